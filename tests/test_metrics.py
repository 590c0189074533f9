"""GET /metrics: the status model in the Prometheus text format, for the bearer of METRICS_TOKEN
only, with the same values as `flask backup status --json`, while the database is down too."""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from app.backup.metrics import PROBLEM_CODES
from app.backup.runs import run_backup
from app.backup.verification import verify_due
from app.config import Config
from app.extensions import db
from app.models.types import parse_utc
from tests.backupkit import FakeClock, rot
from tests.notifykit import free_port

TOKEN = "metrics-token-Zq7"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(make_app):
    app = make_app(METRICS_TOKEN=TOKEN)
    with app.app_context():
        yield app


def scrape(client, headers=BEARER):
    """Return {(name, labels): value} of every sample /metrics answers."""
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        assert family.type == "gauge"
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def epoch(text):
    return (parse_utc(text) - parse_utc("1970-01-01T00:00:00Z")).total_seconds()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": TOKEN},
        {"Authorization": f"bearer {TOKEN}"},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_without_the_token_there_is_no_such_page(app, client, headers):
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 404
    assert "stinkykitty" not in answer.get_data(as_text=True)


def test_without_metrics_token_set_there_is_no_such_page_whatever_is_sent(make_app):
    app = make_app()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        assert app.test_client().get("/metrics", headers=headers).status_code == 404


def test_the_gauges_parse_and_match_the_status_json(app, client, runner, make):
    clock = FakeClock()
    site = make.site()
    _, older = run_backup(app.config, db.engine, trigger="cli", clock=clock)
    make.page(site, slug="two")
    clock.advance(hours=1)
    run_backup(app.config, db.engine, trigger="cli")  # now: the newest is fresh
    rot(older)
    verify_due(app.config)
    result = runner.invoke(args=["backup", "status", "--json"])
    status = json.loads(result.stdout)
    samples = scrape(client)

    def value(name, **labels):
        return samples[(f"stinkykitty_{name}", tuple(sorted(labels.items())))]

    assert value("backup_healthy") == float(status["ok"]) == 0.0
    assert value("backup_count") == status["count"] == 1
    assert value("backup_damaged_count") == len(status["damaged"]) == 1
    assert value("backup_newest_timestamp_seconds") == epoch(status["newest"]["created_at"])
    assert value("backup_newest_size_bytes") == status["newest"]["size"]
    assert value("backup_last_success_timestamp_seconds") == epoch(status["last_success_at"])
    assert value("backup_total_size_bytes") == status["total_size"]
    assert value("backup_last_run_duration_seconds") == status["last_run"]["duration"]
    assert value("backup_last_run_success") == 1.0
    assert value("offsite_newest_timestamp_seconds") == 0.0  # no off-site storage
    problems = {p["code"] for p in status["problems"]}
    assert problems == {"damaged"}
    for code in PROBLEM_CODES:
        assert value("backup_problem", code=code) == float(code in problems)
    assert value("database_up") == 1.0
    assert value("exports", state="queued") == 0.0


def test_a_failed_last_run_and_no_backup_read_as_such(app, client, make, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("app.backup.system.estimate_database_size", broken)
    make.site()
    with pytest.raises(Exception, match="a bug"):
        run_backup(app.config, db.engine, trigger="cli")
    samples = scrape(client)
    assert samples[("stinkykitty_backup_last_run_success", ())] == 0.0
    assert samples[("stinkykitty_backup_newest_timestamp_seconds", ())] == 0.0
    for code in ("no-backup", "last-run-failed"):
        assert samples[("stinkykitty_backup_problem", (("code", code),))] == 1.0


def test_metrics_answer_from_the_data_dir_with_the_database_down(app, make):
    make.site()
    run_backup(app.config, db.engine, trigger="cli")
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone"
    environ = {
        "STINKY_DATA_DIR": app.config["STINKY_DATA_DIR"],
        "DATABASE_URL": dead,
        "METRICS_TOKEN": TOKEN,
    }
    down = create_app(Config(environ=environ, TESTING=True))
    samples = scrape(down.test_client())
    assert samples[("stinkykitty_database_up", ())] == 0.0
    assert samples[("stinkykitty_backup_count", ())] == 1.0
    assert samples[("stinkykitty_backup_healthy", ())] == 1.0
    assert not [key for key in samples if key[0] == "stinkykitty_exports"]


def test_the_newest_offsite_copy_is_a_gauge(make_app, s3_config, make):
    app = make_app(METRICS_TOKEN=TOKEN, **s3_config)
    with app.app_context():
        make.site()
        record, outcome = run_backup(app.config, db.engine, trigger="cli")
    assert record["offsite"] == "ok"
    samples = scrape(app.test_client())
    made = (outcome.created_at - parse_utc("1970-01-01T00:00:00Z")).total_seconds()
    assert samples[("stinkykitty_offsite_newest_timestamp_seconds", ())] == made
    assert samples[("stinkykitty_backup_healthy", ())] == 1.0
