"""Run records: every backup run leaves a line saying how it ended, readable with servers down."""

import errno
import json

import pytest
import sqlalchemy as sa
from celery.exceptions import SoftTimeLimitExceeded

from app.backup import runlog, runs
from app.backup.errors import BackupError, BackupLocked, NotEnoughSpace
from app.backup.runlog import recent_runs
from app.backup.runs import BackupRunFailed, describe_failure, run_backup
from app.coordination.lock import backup_lock
from app.extensions import db
from tests.backupkit import FakeClock
from tests.processes import dead_pid


def backup(app, clock, trigger="schedule", **kw):
    """Run one recorded backup; return its run record."""
    record, _ = run_backup(app.config, db.engine, trigger=trigger, clock=clock, **kw)
    return record


def test_each_run_records_outcome_backup_size_duration_and_retention(app, make):
    app.config["BACKUP_KEEP"] = 2
    clock = FakeClock()
    site = make.site()
    first = backup(app, clock)
    clock.advance(days=1)
    unchanged = backup(app, clock, trigger="cli")
    made = [first["backup_id"]]
    for n in range(2):
        make.page(site, title=f"change {n}")
        clock.advance(days=1)
        made.append(backup(app, clock)["backup_id"])

    history = recent_runs(app.config, clock=clock)
    assert [r["outcome"] for r in history] == ["ok", "ok", "unchanged", "ok"]
    assert [r["trigger"] for r in history] == ["schedule", "schedule", "cli", "schedule"]
    assert unchanged["backup_id"] == first["backup_id"]
    newest = history[0]
    assert newest["backup_id"] == made[-1]
    assert newest["size"] > 0
    assert newest["duration"] >= 0
    assert newest["started_at"] == "2025-06-04T02:00:00Z"
    assert newest["pruned"] == [first["backup_id"]]  # retention ran right after the backup
    assert newest["error"] is None


def test_a_run_finding_the_lock_held_is_skipped_not_failed(app, make):
    clock = FakeClock()
    make.site()
    with backup_lock(app.config, "restore"), pytest.raises(BackupLocked):
        backup(app, clock)
    (skipped,) = recent_runs(app.config)
    assert skipped["outcome"] == "skipped"
    assert skipped["reason"] is None
    assert "a restore is running" in skipped["error"]
    assert backup(app, clock)["outcome"] == "ok"


def test_a_failed_run_is_recorded_and_logged_at_error_with_its_reason(
    app, make, caplog, monkeypatch
):
    make.site()

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("app.backup.system.estimate_database_size", broken)
    with pytest.raises(BackupRunFailed) as failure:
        backup(app, FakeClock())
    (failed,) = recent_runs(app.config)
    assert failed["outcome"] == "failed"
    assert failed["reason"] == runs.UNEXPECTED
    assert failed["error"] == str(failure.value)
    assert failure.value.record["run"] == failed["run"]
    assert "KeyError" in failed["error"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors
    assert str(failure.value) in errors[-1].getMessage()


def test_a_run_whose_process_died_reads_as_interrupted(app):
    clock = FakeClock()
    start = runlog.start_run(app.config, "schedule", clock=clock)
    assert recent_runs(app.config)[0]["outcome"] == "running"  # this process is alive

    lines = runlog.runs_path(app.config).read_text().splitlines()
    record = json.loads(lines[-1])
    record.update(pid=dead_pid(), run="killed-run")
    runlog.append_record(app.config, record)
    newest = recent_runs(app.config)[0]
    assert newest["run"] == "killed-run"
    assert newest["outcome"] == "interrupted"
    assert "never finished" in newest["error"]
    assert start["run"] != "killed-run"


def test_the_record_file_keeps_only_the_newest_lines(app, make):
    app.config["BACKUP_RUN_RECORDS"] = 10
    clock = FakeClock()
    site = make.site()
    left = runlog.runs_path(app.config).with_name(".backup-runs.jsonl.tmp-99999")
    left.write_text("left by a trim that was killed\n")
    ids = []
    for n in range(8):
        make.page(site, title=f"day {n}")
        ids.append(backup(app, clock)["backup_id"])
        clock.advance(days=1)
    lines = runlog.runs_path(app.config).read_text().splitlines()
    assert len(lines) == 10
    kept = recent_runs(app.config)
    assert [r["backup_id"] for r in kept] == ids[::-1][:5]
    assert not list(runlog.runs_path(app.config).parent.glob(".backup-runs.jsonl.tmp-*"))


def test_a_line_torn_by_a_crash_does_not_hide_the_runs_after_it(app, make):
    clock = FakeClock()
    make.site()
    first = backup(app, clock)
    with open(runlog.runs_path(app.config), "a") as f:
        f.write('{"event": "start", "run": "torn", "trig')  # killed mid-write
    clock.advance(days=1)
    second = backup(app, clock)
    assert [r["run"] for r in recent_runs(app.config)] == [second["run"], first["run"]]


def closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_describe_failure_names_the_reasons_a_person_can_act_on():
    def reason(exc, **kw):
        return describe_failure(exc, **kw)[0]

    full = NotEnoughSpace("the backup needs about 3 GB, 1 GB free on /srv")
    assert describe_failure(full) == (runs.DISK_FULL, f"disk full: {full}")
    assert reason(OSError(errno.ENOSPC, "No space left on device", "/srv/x")) == runs.DISK_FULL
    assert reason(PermissionError(errno.EACCES, "Permission denied", "/srv/x")) == (
        runs.PERMISSION_DENIED
    )
    assert reason(OSError(errno.EROFS, "Read-only file system", "/srv")) == runs.PERMISSION_DENIED
    assert reason(SoftTimeLimitExceeded(), time_limit_errors=(SoftTimeLimitExceeded,)) == (
        runs.TIME_LIMIT
    )
    assert reason(BackupError("table x has an odd column")) == runs.BACKUP_FAILED
    assert reason(KeyError("x")) == runs.UNEXPECTED

    # The database error as SQLAlchemy raises it, wrapped the way create_backup lets it through.
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{closed_port()}/x")
    with pytest.raises(sa.exc.OperationalError) as refused:
        engine.connect()
    reason_, message = describe_failure(refused.value)
    assert reason_ == runs.DATABASE_UNREACHABLE
    assert "Can't connect" in message
    assert message.endswith(
        "check that the database server runs and that DATABASE_URL points at it"
    )
    wrapped = BackupError("dump failed")
    wrapped.__cause__ = refused.value
    assert reason(wrapped) == runs.DATABASE_UNREACHABLE
