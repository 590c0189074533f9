"""The ``flask backup`` group and what its commands share: options, prompts, progress, hints.

The commands live in ``app.commands.backup`` (make, list, status, restore,
delete), ``backup_checks`` (verify, prune), ``offsite`` (upload, fetch, remote
checks) and ``notify``; each imports this module, and none imports another.
"""

import functools
import sys

import click

from app.backup import Unauthenticated
from app.commands.failures import CommandGroup, failure
from app.commands.progress import PhaseProgress
from app.humanize import human_ago, human_time
from app.models import utcnow

RESTORE_PROMPT = "Restore will overwrite database. Continue? (y/n)"
RESTORE_PROMPT_UNAUTHENTICATED = (
    "Restore will overwrite database with an archive NOT authenticated by this server's "
    "BACKUP_KEY. Continue? (y/n)"
)
UNAUTHENTICATED_HINT = (
    "; if you trust where it comes from (made before archives were authenticated, or on "
    "another server), run again with --allow-unauthenticated"
)
allow_unauthenticated_option = click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Accept an archive without this server's authentication tag (older or foreign).",
)
PHASES = {
    "write": "Writing archive ",
    "verify": "Verifying       ",
    "extract": "Extracting      ",
    "wait": "Waiting on tasks",
    "migrate": "Migrating schema",
    "load": "Loading tables  ",
}
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("backup", cls=CommandGroup)
def backup_cli():
    """Make, list, verify, restore and delete system backups."""


def clear_errors(command):
    """Add to an unauthenticated archive's error line how to accept it (the group does the rest)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Unauthenticated as exc:
            raise failure(exc, UNAUTHENTICATED_HINT) from None

    return wrapper


def progress_for(as_json):
    """Return a Progress that draws only on a terminal and never in JSON mode."""
    return PhaseProgress(PHASES, enabled=not as_json and sys.stderr.isatty())


def confirm(question, err=False):
    """Ask ``question`` exactly as written; return True for y/yes."""
    answer = click.prompt(question, default="", show_default=False, prompt_suffix=" ", err=err)
    return answer.strip().lower() in ("y", "yes")


def describe_backup(info):
    """Return one line naming backup ``info``: when, by which version, from which database."""
    d = info.to_dict(utcnow())
    return (
        f"Backup {info.backup_id}, made {human_time(info.created_at)} "
        f"({human_ago(d['age_seconds'])}) by StinkyKitty {d['app_version']} on "
        f"{d['dialect']} (schema {d['revision']})"
    )
