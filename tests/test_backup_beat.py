"""A real beat process and a real worker process make the scheduled backups, on Redis and embedded.

BACKUP_INTERVAL_SECONDS (a test-only setting) makes beat send the backup
every two seconds instead of nightly; everything else is as in production:
``celery beat`` and ``celery worker`` subprocesses started from the
environment, the task, the lock, retention and the run records.
"""

import datetime as dt
import itertools
from pathlib import Path

import pytest

from app.backup.catalog import list_backups
from app.backup.runlog import recent_runs
from app.backup.status import backup_status
from app.broker import prepare_embedded_broker
from tests.schedulekit import celery_process, log_tail
from tests.support.waiting import wait_for
from tests.workers import forget_prefix, isolation_env, new_prefix

RUNS_WANTED = 3
KEEP = 2


def wait_for_runs(config, logs):
    """Wait until RUNS_WANTED scheduled backups have ended (failing with the logs if not)."""

    def ended():
        return len([r for r in recent_runs(config) if r.get("event") == "end"]) >= RUNS_WANTED

    try:
        wait_for(ended, timeout=90, interval=0.2, what="the scheduled backups")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n" + "\n".join(log_tail(p) for p in logs)) from None


def run_beat_and_worker(app, tmp_path, environ):
    """Run beat and a worker on ``app``'s data dir until the backups came; return logs."""
    data_dir = Path(app.config["STINKY_DATA_DIR"])
    environ = {
        "BACKUP_INTERVAL_SECONDS": 2,
        "BACKUP_KEEP": KEEP,
        "BACKUP_SKIP_UNCHANGED": 0,  # every run writes, so retention has work to do
        **environ,
    }
    logs = (tmp_path / "worker.log", tmp_path / "beat.log")
    with (
        celery_process("worker", data_dir, logs[0], environ),
        celery_process("beat", data_dir, logs[1], environ),
    ):
        wait_for_runs(app.config, logs)
    return logs


def assert_backups_on_schedule_with_retention(app, logs):
    # Beat may have sent one more while the processes stopped: take every ended run.
    runs = [r for r in recent_runs(app.config) if r.get("event") == "end"][::-1]
    assert len(runs) >= RUNS_WANTED
    assert {r["trigger"] for r in runs} == {"schedule"}
    assert [r["outcome"] for r in runs] == ["ok"] * len(runs), runs
    assert len({r["task_id"] for r in runs}) == len(runs)  # one beat message each
    ids = [r["backup_id"] for r in runs]
    assert ids == sorted(set(ids))
    # One at a time: each run starts after the one before it ended (a busy machine may queue
    # beat's messages, so how far apart they start says nothing).
    spans = [[dt.datetime.fromisoformat(r[k].rstrip("Z")) for k in ("started_at", "ended_at")]
             for r in runs]  # fmt: skip
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(spans)), spans
    # Retention ran right after each backup, once there were more than KEEP.
    assert [r["pruned"] for r in runs] == [[]] * KEEP + [
        [ids[n - KEEP]] for n in range(KEEP, len(ids))
    ]
    assert [info.backup_id for info in list_backups(app.config)] == ids[-KEEP:][::-1]
    assert backup_status(app.config).ok
    assert "Sending due task system-backup (stinkykitty.system_backup)" in logs[1].read_text()


@pytest.mark.integration
def test_beat_and_worker_make_scheduled_backups_over_redis(make_app, make, tmp_path):
    app = make_app(data_dir=tmp_path / "data")
    with app.app_context():
        make.site()
    prefix = new_prefix()
    try:
        logs = run_beat_and_worker(app, tmp_path, isolation_env(prefix))
    finally:
        forget_prefix(prefix)
    assert_backups_on_schedule_with_retention(app, logs)


@pytest.mark.integration
def test_beat_and_worker_make_scheduled_backups_on_the_embedded_broker(make_app, make, tmp_path):
    app = make_app(data_dir=tmp_path / "data")
    assert app.config["CELERY_BROKER_URL"].startswith("sqla+sqlite:///")
    with app.app_context():
        make.site()
    prepare_embedded_broker(app.config["CELERY_BROKER_URL"])
    logs = run_beat_and_worker(app, tmp_path, {})
    assert_backups_on_schedule_with_retention(app, logs)
