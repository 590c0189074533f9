"""A restore is one step even across a crash: killed at any step, the next process settles it.

A ``flask backup restore`` is SIGKILLed at each step of the restore in turn
(the journal's test hook names the step); then another process starts, and
the database and media are exactly the state before the restore (killed
before the commit) or exactly the backup's (killed after it): every row and
every file's bytes.
"""

import signal
import subprocess
import sys
from pathlib import Path

from app.backup.restore.journal import KILL_AT_VARIABLE, journal_path
from app.backup.status import backup_status
from app.backup.system import create_backup, restore_backup
from app.extensions import db
from tests.backupkit import change_everything, full_state, seed_everything
from tests.processes import clean_env

# Every step, in order, and whether the restore had committed when killed there.
STEPS = [
    ("extracted", False),
    ("loaded", False),
    ("journaled", False),
    ("moved-aside", False),
    ("installed", False),
    ("committed", True),
    ("cleaned", True),
    ("done", True),
]
JOURNALED = {"journaled", "moved-aside", "installed", "committed", "cleaned"}


def flask(app, *args, **environ):
    """Run ``flask <args>`` as another process of this deployment; return the CompletedProcess."""
    env = clean_env(
        STINKY_DATA_DIR=app.config["STINKY_DATA_DIR"],
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=app.config["SECRET_KEY"],
        BACKUP_KEY=app.config["BACKUP_KEY"],
        **environ,
    )
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=Path(app.config["STINKY_DATA_DIR"]).parent,
        env=env,
        capture_output=True,
        timeout=120,
    )


def test_a_restore_killed_at_any_step_ends_in_the_old_or_the_new_state_exactly(any_app, make):
    app = any_app
    client = app.test_client()
    seed_everything(make, media_files=6)
    backup_id = create_backup(app.config, db.engine, skip_unchanged=False).backup_id
    new = full_state(app.config)
    change_everything(make)
    before_id = create_backup(app.config, db.engine, skip_unchanged=False).backup_id
    old = full_state(app.config)
    assert old != new

    for step, committed in STEPS:
        killed = flask(app, "backup", "restore", backup_id, "--yes", **{KILL_AT_VARIABLE: step})
        assert killed.returncode == -signal.SIGKILL, (step, killed.stderr.decode())
        if step in JOURNALED:  # not settled yet: status and /healthz say so
            health = backup_status(app.config)
            assert [p.code for p in health.problems] == ["restore-interrupted"], step
            assert client.get("/healthz").status_code == 503
            assert health.public_dict()["status"] == "restore-interrupted"

        status = flask(app, "backup", "status")  # any process that starts settles it
        assert not journal_path(app.config).exists(), (step, status.stderr.decode())
        assert status.returncode == 0, (step, status.stderr.decode())
        assert full_state(app.config) == (new if committed else old), step
        assert not [p for p in Path(app.config["STINKY_DATA_DIR"]).glob("uploads.pre-*")]

        if committed:  # back to the old state for the next step
            restore_backup(app.config, db.engine, before_id)
            assert full_state(app.config) == old


def test_status_exits_non_zero_while_a_restore_is_interrupted(app, make, runner, client, login_as):
    seed_everything(make, media_files=2)
    admin = make.user(email="ops@example.org", admin=True)
    backup_id = create_backup(app.config, db.engine, skip_unchanged=False).backup_id
    change_everything(make)
    killed = flask(app, "backup", "restore", backup_id, "--yes", **{KILL_AT_VARIABLE: "installed"})
    assert killed.returncode == -signal.SIGKILL
    # This process started before the crash, so it has not settled it: it reports it.
    result = runner.invoke(args=["backup", "status"])
    assert result.exit_code == 1
    assert "RESTORE: the restore of " in result.output
    assert "interrupted" in result.output
    assert client.get("/healthz").status_code == 503
    banner = login_as(admin).get("/admin/").get_data(as_text=True)
    assert "RESTORE: an interrupted restore of " in banner  # the summary: no paths
    # The next process that starts settles it, and says so.
    settled = flask(app, "backup", "status")
    assert settled.returncode == 0, settled.stderr.decode()
    assert "was undone: database and media match again" in settled.stderr.decode()
    assert runner.invoke(args=["backup", "status"]).exit_code == 0
    assert client.get("/healthz").status_code == 200
