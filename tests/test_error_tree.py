"""One error tree: every error of the app is under one root, carries its exit code, and the
``flask`` commands end with that code and one line on stderr (docs/backups.md lists them)."""

import importlib
import inspect
import pkgutil
import re
import tarfile
from pathlib import Path

import click

import app as app_package
from app.backup.system import create_backup
from app.coordination.lock import backup_lock
from app.errors import BUSY, DAMAGED, NOT_FOUND, REFUSED, USAGE, StinkyKittyError
from app.extensions import db
from tests import craft
from tests.backupkit import full_state, rebuild, unpack

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "backups.md"
GOLDEN_EXPORT = ROOT / "tests" / "fixtures" / "site-export-v1.tar.gz"
ROW = re.compile(r"^\| `(\w+)` \| .* \| (\d) \|$")


def app_exceptions():
    """Return {name: class} of every exception class defined in a module of app/."""
    found = {}
    for module in pkgutil.walk_packages(app_package.__path__, "app."):
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == loaded.__name__
            ):
                found[name] = value
    return found


def documented_codes():
    """Return {class name: exit code} from the table of docs/backups.md."""
    rows = (ROW.match(line) for line in DOCS.read_text().splitlines())
    return {row[1]: int(row[2]) for row in rows if row}


def test_every_exception_of_the_app_is_under_the_root():
    classes = app_exceptions()
    assert {"ArchiveError", "BackupError", "ExportError", "CorruptArchive"} <= set(classes)
    mine = {n: cls for n, cls in classes.items() if not issubclass(cls, click.ClickException)}
    assert set(classes) - set(mine) == {"Failure"}  # how the CLI reports them, click's own
    outside = sorted(n for n, cls in mine.items() if not issubclass(cls, StinkyKittyError))
    assert outside == []


def test_the_docs_list_every_error_with_the_exit_code_it_carries():
    public = {
        n: cls
        for n, cls in app_exceptions().items()
        if not n.startswith("_") and issubclass(cls, StinkyKittyError)
    }
    documented = documented_codes()
    assert sorted(documented) == sorted(public)
    assert {n: cls.exit_code for n, cls in public.items()} == documented


def test_errors_that_are_both_inherit_both():
    classes = app_exceptions()
    both = {
        "DamagedBackup": ("BackupError", "CorruptArchive"),
        "RowTooLong": ("BackupError", "CorruptArchive"),
        "InvalidSiteData": ("ExportError", "CorruptArchive"),
    }
    for name, bases in both.items():
        assert all(issubclass(classes[name], classes[base]) for base in bases), name
    assert not issubclass(classes["BackupError"], classes["ArchiveError"])
    assert not issubclass(classes["ExportError"], classes["ArchiveError"])


def failed_with(result, exit_code):
    """Assert the command ended with ``exit_code``, one line on stderr and nothing on stdout."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_locked_backup_exits_3(app, make, runner):
    make.site()
    with backup_lock(app.config, "restore"):
        line = failed_with(runner.invoke(args=["backup", "create"]), BUSY)
    assert line.startswith("Error: cannot start the backup: a restore is running")


def test_a_damaged_backup_exits_4_on_verify_and_restore(app, make, runner):
    make.site()
    outcome = create_backup(app.config, db.engine)
    raw = bytearray(outcome.path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    outcome.path.write_bytes(bytes(raw))
    before = full_state(app.config)
    failed_with(runner.invoke(args=["backup", "verify", outcome.backup_id]), DAMAGED)
    failed_with(runner.invoke(args=["backup", "restore", outcome.backup_id, "--yes"]), DAMAGED)
    outcome.path.write_bytes(outcome.path.read_bytes()[:100])  # the manifest is gone too
    failed_with(runner.invoke(args=["backup", "restore", outcome.backup_id, "--yes"]), DAMAGED)
    assert full_state(app.config) == before


def test_a_hostile_site_import_exits_5_and_changes_nothing(app, make, runner, tmp_path):
    make.user(email="boss@example.org")
    manifest, files = unpack(GOLDEN_EXPORT, tmp_path / "x")
    link = craft.special("media/link.png", tarfile.SYMTYPE, "/etc/passwd")
    hostile = rebuild(tmp_path / "hostile.tar.gz", manifest, files, extra_entries=[link])
    before = full_state(app.config)
    args = ["site", "import", str(hostile), "--subdomain", "new", "--owner", "boss@example.org"]
    line = failed_with(runner.invoke(args=args), REFUSED)
    assert "link" in line
    assert full_state(app.config) == before


def test_what_is_not_there_exits_6(app, runner):
    missing = runner.invoke(args=["backup", "restore", "stinkykitty-1999-01-01-000000", "--yes"])
    assert "no backup stinkykitty-1999-01-01-000000" in failed_with(missing, NOT_FOUND)
    site = runner.invoke(args=["site", "export", "nosuchsite"])
    assert "nosuchsite" in failed_with(site, NOT_FOUND)


def test_usage_exits_2(app, runner):
    assert runner.invoke(args=["backup", "verify"]).exit_code == USAGE
    assert runner.invoke(args=["backup", "create", "--no-such-option"]).exit_code == USAGE


def test_every_command_group_turns_app_errors_into_their_code():
    from app.commands.backup import backup_cli
    from app.commands.demo import demo_cli
    from app.commands.failures import CommandGroup
    from app.commands.sites import site_cli
    from app.commands.users import user_cli

    assert all(isinstance(g, CommandGroup) for g in (backup_cli, demo_cli, site_cli, user_cli))
