"""What the scheduler can do to the backup task, and what machines do to it; each run is recorded.

Duplicate delivery and a manual backup at the same moment, a worker process
killed mid-backup, the time limit, a full disk, an unreachable database and a
read-only disk: each leaves a clear run record, no partial file and the older
backups intact, and the next run succeeds.
"""

import os
import signal
from pathlib import Path

import pytest

from app import get_celery
from app.backup import dumpahead, runs
from app.backup.catalog import backups_dir, list_backups
from app.backup.runlog import recent_runs
from app.backup.runs import BackupRunFailed, run_backup
from app.backup.status import backup_status
from app.backup.system import verify_backup
from app.coordination.lock import lock_holder
from app.errors import BUSY, NO_ROOM
from app.extensions import db
from tests.backupkit import leftovers
from tests.processes import small_filesystem
from tests.schedulekit import (
    add_big_media,
    celery_process,
    flask_process,
    log_tail,
    remount,
    temp_archives,
    unreachable_app,
)
from tests.support.waiting import wait_for
from tests.workers import (
    REDIS_URL,
    forget_prefix,
    isolate,
    isolation_env,
    new_prefix,
    thread_worker,
)

pytestmark = pytest.mark.integration
RESULT_TIMEOUT = 60


@pytest.fixture
def redis_app(make_app, tmp_path):
    """An app whose Celery talks to the real Redis under a prefix of its own; context pushed."""
    prefix = new_prefix()
    app = make_app(
        data_dir=tmp_path / "data", CELERY_BROKER_URL=REDIS_URL, CELERY_RESULT_BACKEND=REDIS_URL
    )
    app.config["TEST_CELERY_PREFIX"] = prefix
    isolate(get_celery(app), prefix)
    try:
        with app.app_context():
            yield app
    finally:
        forget_prefix(prefix)


def data_dir(app):
    return Path(app.config["STINKY_DATA_DIR"])


def send_backup(app, **options):
    """Queue the scheduled backup task as beat does."""
    task = get_celery(app).tasks["stinkykitty.system_backup"]
    return task.apply_async(kwargs={"trigger": "schedule"}, **options)


def ended_runs(app):
    return [r for r in recent_runs(app.config) if r.get("event") == "end"]


def wait_for_run(app, log, count=1):
    """Wait until ``count`` more runs ended than now; return the newest."""
    before = len(ended_runs(app))
    try:
        wait_for(lambda: len(ended_runs(app)) >= before + count, timeout=90, interval=0.05)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_tail(log)}") from None
    return ended_runs(app)[0]


def backup_holder(app):
    """The lock record of a running backup, once one runs."""
    holder = lock_holder(app.config)
    return holder if holder and holder.get("operation") == "backup" else None


def assert_intact(app, *older):
    """No partial file anywhere, and every ``older`` backup still verifies."""
    assert leftovers(app.config) == []
    assert not temp_archives(backups_dir(app.config))
    for backup_id in older:
        verify_backup(app.config, backup_id)


def cli_backup(app):
    return run_backup(app.config, db.engine, trigger="cli")[1]


def test_duplicate_delivery_and_a_manual_backup_at_the_same_moment_run_one_backup(
    redis_app, make, tmp_path
):
    app = redis_app
    site = make.site()
    add_big_media(site, 48, make)
    # A manual `flask backup create`, frozen (SIGSTOP) while it holds the lock.
    manual = flask_process(data_dir(app), "backup", "create")
    try:
        holder = wait_for(lambda: backup_holder(app), what="the manual backup to start")
        assert holder["pid"] == manual.pid
        os.kill(manual.pid, signal.SIGSTOP)
        assert manual.poll() is None, "the manual backup ended before it could be held"

        # Beat twice by mistake, and Redis handing out the same message twice.
        with thread_worker(get_celery(app), queues=[app.config["TEST_CELERY_PREFIX"]]):
            first = send_backup(app)
            again = send_backup(app, task_id=first.id)
            other = send_backup(app)
            answers = [r.get(timeout=RESULT_TIMEOUT) for r in (first, again, other)]
        assert [a["outcome"] for a in answers] == ["skipped"] * 3
        assert all("a backup is running (pid" in a["error"] for a in answers)

        started = holder["started_at"]  # ISO 8601 in the lock file; "YYYY-MM-DD HH:MM UTC" shown
        since = f"{started[:10]} {started[11:16]} UTC"
        second_manual = flask_process(data_dir(app), "backup", "create")
        _, err = second_manual.communicate(timeout=60)
        assert second_manual.returncode == BUSY
        assert err.decode().strip().splitlines() == [
            f"Error: cannot start the backup: a backup is running (pid {manual.pid} on "
            f"{holder['host']}, since {since}); try again when it has "
            "finished"
        ]
    finally:
        os.kill(manual.pid, signal.SIGCONT)
        _, err = manual.communicate(timeout=120)
    assert manual.returncode == 0, err.decode()

    backups = list_backups(app.config)
    assert len(backups) == 1  # exactly one backup ran
    history = recent_runs(app.config)[::-1]
    assert [(r["trigger"], r["outcome"]) for r in history] == [
        ("cli", "ok"),
        ("schedule", "skipped"),
        ("schedule", "skipped"),
        ("schedule", "skipped"),
        ("cli", "skipped"),
    ]
    assert history[1]["task_id"] == history[2]["task_id"] == first.id
    assert history[0]["backup_id"] == backups[0].backup_id
    assert backup_status(app.config).ok  # skipping is not failing
    assert_intact(app, backups[0].backup_id)


def test_a_worker_process_killed_mid_backup_leaves_no_partial_file_and_the_run_is_redone(
    redis_app, make, tmp_path
):
    app = redis_app
    site = make.site()
    older = cli_backup(app)
    add_big_media(site, 64, make)
    folder = backups_dir(app.config)
    log = tmp_path / "worker.log"
    env = isolation_env(app.config["TEST_CELERY_PREFIX"])
    with celery_process("worker", data_dir(app), log, env):
        sent = send_backup(app)
        holder = wait_for(lambda: backup_holder(app), what="the backup to start")
        wait_for(lambda: temp_archives(folder), what="the archive being written")
        os.kill(holder["pid"], signal.SIGKILL)  # the pool process running the backup
        # The worker gives the message back (task_reject_on_worker_lost) and runs it again.
        redone = wait_for_run(app, log)
    killed = recent_runs(app.config)[1]
    assert killed["outcome"] == "interrupted"
    assert killed["pid"] == holder["pid"]
    assert "never finished" in killed["error"]
    assert redone["outcome"] == "ok"
    assert redone["task_id"] == killed["task_id"] == sent.id
    assert [i.backup_id for i in list_backups(app.config)] == [redone["backup_id"], older.backup_id]
    assert_intact(app, older.backup_id, redone["backup_id"])
    assert backup_status(app.config).ok


def test_the_time_limit_stops_a_backup_records_it_and_the_next_run_succeeds(
    redis_app, make, tmp_path
):
    app = redis_app
    site = make.site()
    older = cli_backup(app)
    add_big_media(site, 16, make)
    log = tmp_path / "worker.log"
    env = isolation_env(app.config["TEST_CELERY_PREFIX"])
    with celery_process("worker", data_dir(app), log, env):
        sent = send_backup(app, soft_time_limit=1, time_limit=120)
        holder = wait_for(lambda: backup_holder(app), what="the backup to start")
        # Hold the backup still until the worker says its soft limit passed.
        os.kill(holder["pid"], signal.SIGSTOP)
        try:
            wait_for(
                lambda: "Soft time limit (1s) exceeded" in log_tail(log),
                interval=0.1,
                what="the soft time limit",
            )
        finally:
            os.kill(holder["pid"], signal.SIGCONT)
        failed = wait_for_run(app, log)
        assert failed["outcome"] == "failed"
        assert failed["reason"] == runs.TIME_LIMIT
        assert failed["task_id"] == sent.id
        assert "ran longer than its time limit" in failed["error"]
        sent.get(timeout=RESULT_TIMEOUT, propagate=False)
        assert sent.state == "FAILURE"
        assert not backup_status(app.config).ok
        assert_intact(app, older.backup_id)

        after = send_backup(app).get(timeout=RESULT_TIMEOUT)
    assert after["outcome"] == "ok"
    assert backup_status(app.config).ok
    assert f"ERROR/ForkPoolWorker-1] system backup (schedule) failed: {failed['error']}" in (
        log.read_text()
    )


def test_a_full_disk_fails_clearly_keeps_the_older_backups_and_the_next_run_succeeds(
    app, make, runner, monkeypatch
):
    site = make.site()
    with small_filesystem(backups_dir(app.config), "4m") as folder:
        older = cli_backup(app)
        make.media(site, content=os.urandom(6_000_000), name="video.mp4")

        # Found before writing, from the CLI:
        result = runner.invoke(args=["backup", "create"])
        assert result.exit_code == NO_ROOM
        assert result.stderr.startswith("Error: disk full: the backup needs about 6.")
        assert len(result.stderr.strip().splitlines()) == 1
        assert_intact(app, older.backup_id)

        # Found while writing, when the estimate was wrong, in a scheduled run:
        monkeypatch.setattr(dumpahead, "check_space", lambda *args: None)
        with pytest.raises(BackupRunFailed, match=r"^disk full while writing stinkykitty-"):
            run_backup(app.config, db.engine, trigger="schedule")
        assert_intact(app, older.backup_id)
        assert [i.backup_id for i in list_backups(app.config)] == [older.backup_id]

        history = recent_runs(app.config)
        assert [(r["trigger"], r["outcome"], r["reason"]) for r in history[:2]] == [
            ("schedule", "failed", runs.DISK_FULL),
            ("cli", "failed", runs.DISK_FULL),
        ]
        assert not backup_status(app.config).ok

        remount(folder, "size=64m")  # ops made room
        after = run_backup(app.config, db.engine, trigger="schedule")[0]
        assert after["outcome"] == "ok"
        assert backup_status(app.config).ok
        assert_intact(app, older.backup_id, after["backup_id"])


def test_an_unreachable_database_fails_the_task_once_and_the_next_run_succeeds(
    redis_app, make, runner
):
    app = redis_app
    make.site()
    older = cli_backup(app)
    broken = unreachable_app(data_dir(app), CELERY_BROKER_URL=REDIS_URL)
    isolate(get_celery(broken), app.config["TEST_CELERY_PREFIX"])
    with broken.app_context():
        with thread_worker(get_celery(broken), queues=[app.config["TEST_CELERY_PREFIX"]]):
            sent = send_backup(broken)
            sent.get(timeout=RESULT_TIMEOUT, propagate=False)
        assert sent.state == "FAILURE"  # failed, not retried
        assert str(sent.result).startswith("database unreachable: ")
        cli = broken.test_cli_runner().invoke(args=["backup", "create"])
        db.engine.dispose()
    assert cli.exit_code == 1
    assert cli.stderr.startswith("Error: database unreachable: ")

    history = recent_runs(app.config)
    assert [(r["trigger"], r["outcome"], r["reason"]) for r in history[:3]] == [
        ("cli", "failed", runs.DATABASE_UNREACHABLE),
        ("schedule", "failed", runs.DATABASE_UNREACHABLE),
        ("cli", "ok", None),
    ]
    assert history[1]["task_id"] == sent.id
    assert "Can't connect to MySQL server" in history[1]["error"]
    assert_intact(app, older.backup_id)
    assert not backup_status(app.config).ok

    make.site()
    assert cli_backup(app).created
    assert backup_status(app.config).ok


def test_a_read_only_disk_is_reported_as_permission_denied(app, make):
    site = make.site()
    with small_filesystem(backups_dir(app.config), "8m") as folder:
        older = cli_backup(app)
        make.page(site, title="changed")
        remount(folder, "ro")
        with pytest.raises(BackupRunFailed, match=r"^permission denied: cannot write "):
            run_backup(app.config, db.engine, trigger="schedule")
        failed = recent_runs(app.config)[0]
        assert (failed["outcome"], failed["reason"]) == ("failed", runs.PERMISSION_DENIED)
        assert "STINKY_DATA_DIR" in failed["error"]
        remount(folder, "rw")
        assert_intact(app, older.backup_id)
        assert run_backup(app.config, db.engine, trigger="schedule")[0]["outcome"] == "ok"
