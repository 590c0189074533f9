"""The embedded broker's sweep: consumed messages go, pending ones stay and still run."""

import sqlite3

import pytest

from app import create_app, get_celery
from app.broker import prepare_celery_storage, sweep_consumed_messages
from app.config import Config
from tests.workers import thread_worker, wait_result


def message_counts(app):
    """Return (pending, consumed) rows of the embedded broker's message table."""
    path = app.config["CELERY_BROKER_URL"].removeprefix("sqla+sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT visible, count(*) FROM kombu_message GROUP BY visible"))
    return rows.get(1, 0), rows.get(0, 0)


def send_pings(celery_app, values):
    return [celery_app.tasks["stinkykitty.ping"].delay(v) for v in values]


@pytest.fixture
def embedded(app):
    """The app's Celery app on the embedded broker, its tables created."""
    celery_app = get_celery(app)
    assert celery_app.conf.broker_url.startswith("sqla+sqlite:///")
    prepare_celery_storage(celery_app)
    return celery_app


def test_sweep_deletes_consumed_messages_and_keeps_pending_ones(app, embedded):
    url = app.config["CELERY_BROKER_URL"]
    with thread_worker(embedded):
        done = send_pings(embedded, ["a", "b", "c"])
        assert [wait_result(r)["value"] for r in done] == ["a", "b", "c"]
    pending = send_pings(embedded, ["d", "e"])  # no worker now: these wait in the queue
    assert message_counts(app) == (2, 3)

    assert sweep_consumed_messages(url) == 3
    assert message_counts(app) == (2, 0)

    with thread_worker(embedded):
        assert [wait_result(r)["value"] for r in pending] == ["d", "e"]
    assert message_counts(app) == (0, 2)
    assert sweep_consumed_messages(url) == 2
    assert message_counts(app) == (0, 0)


def test_sweep_task_on_a_real_worker_empties_the_consumed_rows(app, embedded):
    with thread_worker(embedded):
        for result in send_pings(embedded, ["a", "b", "c"]):
            wait_result(result)
        swept = wait_result(embedded.tasks["stinkykitty.sweep_broker"].delay())
    # The three pings and the sweep's own message, consumed before it ran.
    assert swept == {"deleted": 4}
    assert message_counts(app) == (0, 0)


def test_sweep_before_the_broker_was_ever_used_deletes_nothing(tmp_path):
    url = f"sqla+sqlite:///{tmp_path / 'never-used.sqlite'}"
    assert sweep_consumed_messages(url) == 0


def test_sweep_refuses_a_broker_that_is_not_embedded():
    with pytest.raises(ValueError, match="not an embedded"):
        sweep_consumed_messages("redis://127.0.0.1:6379/0")


def test_beat_sweeps_the_embedded_broker_hourly_with_a_registered_task(embedded):
    entry = embedded.conf.beat_schedule["sweep-embedded-broker"]
    assert entry["task"] == "stinkykitty.sweep_broker"
    assert entry["schedule"] == 3600
    for name, scheduled in embedded.conf.beat_schedule.items():
        assert scheduled["task"] in embedded.tasks, name


def test_beat_does_not_sweep_when_redis_is_the_broker(tmp_path):
    environ = {
        "STINKY_DATA_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "SECRET_KEY": "x",
    }
    celery_app = get_celery(create_app(Config(environ=environ)))
    assert "sweep-embedded-broker" not in celery_app.conf.beat_schedule
    for name, scheduled in celery_app.conf.beat_schedule.items():
        assert scheduled["task"] in celery_app.tasks, name
