"""``flask backup``: every command, its prompts, its --json output and its exit codes."""

import contextlib
import datetime as dt
import json
import os
import pty
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from app.backup.catalog import backups_dir
from app.backup.system import create_backup, list_backups
from app.commands.backup import progress_for
from app.coordination.lock import backup_lock
from app.errors import BUSY, DAMAGED, NOT_FOUND, REFUSED
from app.extensions import db
from app.models.types import utcnow
from tests import craft
from tests.backupkit import change_everything, full_state, rebuild, seed_everything, unpack
from tests.processes import clean_env
from tests.schedulekit import process_settings

PROMPT = "Restore will overwrite database. Continue? (y/n)"


@pytest.fixture
def backup(runner):
    """Run ``flask backup <args>``."""

    def run(*args, input=None):
        return runner.invoke(args=["backup", *args], input=input)

    return run


def one_error_line(result, exit_code):
    """Assert the command failed with ``exit_code`` and one line on stderr; return the line."""
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_create_then_unchanged_then_forced(app, make, backup):
    make.site()
    first = backup("create")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("Created backup stinkykitty-")
    again = backup("create")
    assert again.exit_code == 0
    assert "Nothing changed since backup" in again.stdout
    forced = backup("create", "--force", "--json")
    assert forced.exit_code == 0
    data = json.loads(forced.stdout)
    assert data["created"] is True
    assert data["counts"]["sites"] == 1
    assert len(list_backups(app.config)) == 2


def test_create_refused_while_locked_says_what_runs(app, backup):
    with backup_lock(app.config, "restore"):
        result = backup("create")
    assert "a restore is running (pid" in one_error_line(result, BUSY)
    assert list_backups(app.config) == []


def test_list_text_and_json_including_a_damaged_file(app, make, backup):
    assert backup("list").stdout.startswith("No backups in ")
    seed_everything(make, media_files=3)
    outcome = create_backup(app.config, db.engine)
    (backups_dir(app.config) / "stinkykitty-2001-01-01-000000.tar.gz").write_bytes(b"junk")
    text = backup("list")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["ID", "SIZE", "AGE", "DATABASE", "ROWS", "FILES"]
    assert outcome.backup_id in lines[1]
    assert "sqlite 0002" in lines[1]
    assert lines[1].split()[-1] == "3"
    assert "stinkykitty-2001-01-01-000000" in lines[2]
    assert "DAMAGED:" in lines[2]
    data = json.loads(backup("list", "--json").stdout)
    assert [d["id"] for d in data] == [outcome.backup_id, "stinkykitty-2001-01-01-000000"]
    assert data[0]["counts"] == outcome.counts
    assert data[0]["files"] == 3
    assert data[0]["ok"] is True
    assert data[1]["ok"] is False
    assert data[1]["error"]


def test_status_ok_then_stale(app, make, backup):
    none = backup("status")
    assert none.exit_code == 1
    assert "STALE: no good backup" in none.stderr

    create_backup(app.config, db.engine, clock=lambda: utcnow() - dt.timedelta(hours=30))
    stale = backup("status", "--json")
    assert stale.exit_code == 1
    data = json.loads(stale.stdout)
    assert data["stale"] is True
    assert data["count"] == 1
    assert "more than the 26 h allowed" in stale.stderr

    make.user()
    create_backup(app.config, db.engine)
    fresh = backup("status")
    assert fresh.exit_code == 0, fresh.output
    assert "Backups:    2 good" in fresh.stdout
    assert "Next run:" in fresh.stdout
    data = json.loads(backup("status", "--json").stdout)
    assert data["stale"] is False
    next_run = dt.datetime.fromisoformat(data["next_run"])
    assert (next_run.hour, next_run.minute) == (2, 0)  # BACKUP_SCHEDULE "0 2 * * *", UTC
    assert next_run > dt.datetime.now(dt.UTC)


def test_verify_ok_and_damaged(app, make, backup):
    make.site()
    outcome = create_backup(app.config, db.engine)
    ok = backup("verify", outcome.backup_id)
    assert ok.exit_code == 0
    assert "is intact" in ok.stdout
    data = json.loads(backup("verify", outcome.backup_id, "--json").stdout)
    assert data["ok"] is True
    assert data["manifest"]["format"] == "stinkykitty-system-backup"
    raw = bytearray(outcome.path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    outcome.path.write_bytes(bytes(raw))
    assert outcome.backup_id in one_error_line(backup("verify", outcome.backup_id), DAMAGED)
    assert "not a backup id" in one_error_line(backup("verify", "../../etc/passwd"), NOT_FOUND)
    assert "no backup" in one_error_line(
        backup("verify", "stinkykitty-1999-01-01-000000"), NOT_FOUND
    )


@pytest.fixture
def changed(app, make):
    seed_everything(make, media_files=3)
    backed_up = full_state(app.config)
    outcome = create_backup(app.config, db.engine)
    change_everything(make)
    return outcome, backed_up, full_state(app.config)


def test_restore_answered_no_changes_nothing(app, backup, changed):
    outcome, _backed_up, now = changed
    result = backup("restore", outcome.backup_id, input="n\n")
    assert result.exit_code == 1
    assert f"Backup {outcome.backup_id}, made " in result.stdout
    assert "rows:  users 3, sites 2" in result.stdout
    assert "media: 3 files" in result.stdout
    assert PROMPT in result.stdout
    assert "Restore cancelled; nothing changed." in result.stderr
    assert full_state(app.config) == now


def test_the_restore_prompt_says_when_a_backup_is_dated_ahead_of_the_clock(app, backup, make):
    make.user()
    ahead = create_backup(app.config, db.engine, clock=lambda: utcnow() + dt.timedelta(hours=3))
    result = backup("restore", ahead.backup_id, input="n\n")
    assert result.exit_code == 1
    assert "(2 h 59 min from now)" in result.stdout or "(3 h 0 min from now)" in result.stdout
    assert "future" not in result.stdout
    assert " ago" not in result.stdout


def test_restore_answered_yes_restores(app, backup, changed):
    outcome, backed_up, _now = changed
    result = backup("restore", outcome.backup_id, input="y\n")
    assert result.exit_code == 0, result.output
    assert PROMPT in result.stdout
    assert f"Restored backup {outcome.backup_id}" in result.stdout
    assert full_state(app.config) == backed_up


def test_restore_yes_json_asks_nothing_and_prints_json(app, backup, changed):
    outcome, backed_up, _now = changed
    result = backup("restore", f"{outcome.backup_id}.tar.gz", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert PROMPT not in result.output
    data = json.loads(result.stdout)
    assert data["backup_id"] == outcome.backup_id
    assert data["counts"] == outcome.counts
    assert data["count_mismatches"] == {}
    assert full_state(app.config) == backed_up


def test_restore_refusals_are_one_line_and_change_nothing(app, backup, changed):
    outcome, _backed_up, now = changed
    assert "no backup" in one_error_line(
        backup("restore", "stinkykitty-1999-01-01-000000"), NOT_FOUND
    )
    with backup_lock(app.config, "backup"):
        locked = backup("restore", outcome.backup_id, "--yes")
    assert "a backup is running" in one_error_line(locked, BUSY)
    outcome.path.write_bytes(outcome.path.read_bytes()[:-3000])
    corrupt = backup("restore", outcome.backup_id, "--yes")
    assert outcome.backup_id in one_error_line(corrupt, DAMAGED)
    assert full_state(app.config) == now


def test_hostile_archive_is_one_line_and_changes_nothing(app, backup, changed, tmp_path):
    outcome, _backed_up, now = changed
    manifest, files = unpack(outcome.path, tmp_path / "x")
    link = craft.special("uploads/1/passwd", tarfile.SYMTYPE, "/etc/passwd")
    rebuild(outcome.path, manifest, files, extra_entries=[link])
    line = one_error_line(backup("restore", outcome.backup_id, "--yes"), REFUSED)
    assert "refused symbolic link 'uploads/1/passwd'" in line
    assert full_state(app.config) == now


def test_progress_bars_only_on_a_terminal_and_never_with_json(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not progress_for(as_json=False).enabled
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress_for(as_json=False).enabled
    assert not progress_for(as_json=True).enabled


def test_delete_asks_then_deletes(app, make, backup):
    make.site()
    outcome = create_backup(app.config, db.engine)
    kept = backup("delete", outcome.backup_id, input="n\n")
    assert kept.exit_code == 1
    assert f"Delete backup {outcome.backup_id} (" in kept.stdout
    assert outcome.path.exists()
    gone = backup("delete", outcome.backup_id, input="y\n")
    assert gone.exit_code == 0
    assert not outcome.path.exists()
    assert "no backup" in one_error_line(backup("delete", outcome.backup_id, "--yes"), NOT_FOUND)
    make.user()
    second = create_backup(app.config, db.engine)
    assert backup("delete", second.backup_id, "--yes").exit_code == 0
    assert list_backups(app.config) == []


def test_prune_applies_retention(app, make, backup):
    made = []
    for n in range(3):
        make.user()
        made.append(
            create_backup(
                app.config, db.engine, clock=lambda n=n: dt.datetime(2025, 6, 1 + n, 2)
            ).backup_id
        )
    nothing = backup("prune")
    assert nothing.exit_code == 0
    assert "Nothing to delete." in nothing.stdout
    data = json.loads(backup("prune", "--keep", "1", "--json").stdout)
    assert data == {"deleted": [made[1], made[0]]}
    assert [i.backup_id for i in list_backups(app.config)] == [made[2]]
    assert backup("prune", "--keep", "0").exit_code == 2  # usage error: keep at least one


def test_verify_on_a_terminal_ends_the_bar_before_the_verdict(app, make):
    make.site()
    backup = create_backup(app.config, db.engine)
    data_dir = Path(app.config["STINKY_DATA_DIR"])
    main, terminal = pty.openpty()  # stdout and stderr on one terminal, as a person sees them
    with os.fdopen(main, "rb", buffering=0) as screen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "backup", "verify", backup.backup_id],
            cwd=data_dir.parent,
            env=clean_env(**process_settings(data_dir)),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
        )
        os.close(terminal)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
            while chunk := screen.read(4096):
                shown += chunk
    assert proc.wait() == 0
    text = shown.decode(errors="replace")
    assert "100%" in text, text  # the bar was drawn
    verdict = text.index(f"Backup {backup.backup_id} is intact")
    assert text[verdict - 1] == "\n", repr(text[verdict - 40 : verdict])


def test_verify_needs_an_id_or_all_and_says_so_in_its_usage(app):
    runner = app.test_cli_runner()
    bare = runner.invoke(args=["backup", "verify"])
    assert bare.exit_code == 2
    assert "Usage: " in bare.output
    assert "verify [OPTIONS] (BACKUP_ID | --all)" in bare.output
    assert "give a backup id (see `flask backup list`) or --all" in bare.output
    both = runner.invoke(args=["backup", "verify", "x", "--all"])
    assert both.exit_code == 2
    assert "not both" in both.output
