"""One status model: `flask backup status` (text and --json), GET /healthz and the banner agree."""

import datetime as dt
import json

import pytest
from flask import g

from app.backup import status as status_module
from app.backup.runs import run_backup
from app.backup.status import Problem, backup_status
from app.broker import beat_entries, is_embedded_broker
from app.extensions import db
from app.models.types import utcnow
from tests.backupkit import FakeClock

# The keys README.md documents for `flask backup status --json` and GET /healthz.
STATUS_KEYS = {
    "ok", "problems", "warnings", "count", "damaged", "total_size", "free_bytes", "folder",
    "newest", "last_success_at", "age_seconds", "max_age_seconds", "stale", "reason",
    "last_run", "last_failure", "running", "maintenance", "old_media_folders", "next_run",
    "schedule_error", "restorability",
}  # fmt: skip
HEALTHZ_KEYS = {"ok", "status", "newest_backup", "last_run", "reason"}


def test_the_json_of_status_and_healthz_keep_their_documented_keys(app, make, runner, client):
    make.site()
    run_backup(app.config, db.engine, trigger="cli")
    result = runner.invoke(args=["backup", "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == STATUS_KEYS
    model = json.loads(json.dumps(backup_status(app.config).to_dict(), default=str))
    moving = {"free_bytes", "age_seconds", "newest", "next_run"}  # time and the disk move
    assert {k: v for k, v in data.items() if k not in moving} == {
        k: v for k, v in model.items() if k not in moving
    }
    assert data["newest"]["id"] == model["newest"]["id"]
    response = client.get("/healthz")
    assert set(response.get_json()) == HEALTHZ_KEYS
    assert response.get_json()["newest_backup"]["id"] == data["newest"]["id"]


def dashboard(login_as, user):
    g.pop("_login_user", None)  # see tests/test_backup_health.py
    return login_as(user).get("/admin/").get_data(as_text=True)


def test_a_problem_added_in_one_place_shows_in_every_view(
    app, make, runner, client, login_as, monkeypatch
):
    admin = make.user(admin=True)
    make.site()
    run_backup(app.config, db.engine, trigger="cli")
    assert backup_status(app.config).ok

    def offsite_missing(status, config):
        return Problem("offsite", "OFFSITE", "no copy in s3://bucket/x", "no off-site copy")

    checks = (*status_module.PROBLEM_CHECKS, offsite_missing)
    monkeypatch.setattr(status_module, "PROBLEM_CHECKS", checks)

    result = runner.invoke(args=["backup", "status"])
    assert result.exit_code == 1
    assert result.stderr == "OFFSITE: no copy in s3://bucket/x\n"
    data = json.loads(runner.invoke(args=["backup", "status", "--json"]).stdout)
    assert data["ok"] is False
    assert data["stale"] is False
    assert [p["code"] for p in data["problems"]] == ["offsite"]
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "offsite"
    assert response.get_json()["reason"] == "no off-site copy"
    assert "s3://" not in response.get_data(as_text=True)
    page = dashboard(login_as, admin)
    assert 'data-banner="backups"' in page
    assert "OFFSITE: no off-site copy" in page  # the banner shows the summary, never a path
    assert "s3://" not in page


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.UTC)),
        ("Europe/Berlin", dt.datetime(2026, 1, 15, 1, 0, tzinfo=dt.UTC)),  # 02:00 CET
        ("America/New_York", dt.datetime(2026, 1, 15, 7, 0, tzinfo=dt.UTC)),  # 02:00 EST
    ],
)
def test_the_next_run_is_at_the_schedule_in_the_backup_timezone(app, zone, expected):
    app.config["BACKUP_TIMEZONE"] = zone
    clock = FakeClock(dt.datetime(2026, 1, 15, 0, 30))
    status = backup_status(app.config, clock=clock)
    assert status.next_run == expected
    assert status.to_dict()["next_run"] == expected.isoformat()


def test_a_bad_schedule_is_reported_and_status_still_answers(app):
    app.config["BACKUP_SCHEDULE"] = "0 2 * *"
    data = backup_status(app.config).to_dict()
    assert data["next_run"] is None
    assert "BACKUP_SCHEDULE='0 2 * *' is not a valid crontab" in data["schedule_error"]
    assert [p["code"] for p in data["problems"]] == ["no-backup"]


def test_the_max_age_has_one_default_read_from_the_config(app, make):
    make.site()
    made = utcnow()
    run_backup(app.config, db.engine, trigger="cli", clock=lambda: made)
    app.config["BACKUP_MAX_AGE"] = 3600
    later = FakeClock(made + dt.timedelta(hours=2))
    status = backup_status(app.config, clock=later)
    assert [p.code for p in status.problems] == ["stale"]
    assert status.to_dict()["max_age_seconds"] == 3600
    assert "more than the 1 h allowed" in status.problems[0].message


@pytest.mark.parametrize(
    ("url", "embedded"),
    [
        ("sqla+sqlite:////srv/sk/celery-broker.sqlite", True),
        ("sqlalchemy+sqlite:////srv/sk/celery-broker.sqlite", True),
        ("redis://127.0.0.1:6379/0", False),
        ("amqp://guest@localhost//", False),
    ],
)
def test_both_spellings_of_the_embedded_broker_get_its_sweep(url, embedded):
    assert is_embedded_broker(url) is embedded
    assert ("sweep-embedded-broker" in beat_entries(url)) is embedded
