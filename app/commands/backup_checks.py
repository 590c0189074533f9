"""``flask backup verify`` and ``flask backup prune``: integrity checks and retention, explained.

``prune --dry-run`` shows the plan (which rule keeps each backup, see
``app.backup.tiers``) from the recorded verifications, changing nothing.

Added to the ``backup`` group of ``app.commands.backup``. Every verification is
recorded beside the backups (``app.backup.verification``), as the scheduled one is.
"""

import sys

import click
from flask import current_app

from app.backup import (
    BackupNotFound,
    check_backup,
    list_backups,
    normalize_id,
    preview_retention,
    prune_backups,
)
from app.commands import echo_json
from app.commands.backupgroup import (
    UNAUTHENTICATED_HINT,
    allow_unauthenticated_option,
    backup_cli,
    clear_errors,
    json_option,
    progress_for,
)
from app.commands.failures import Failure
from app.errors import DAMAGED


def _verdict(backup_id, result, allow_unauthenticated):
    """Return (passed, one line) for a verification ``result``."""
    if result["ok"] and result["authenticated"]:
        return (
            True,
            f"Backup {backup_id} is intact: every checksum matches, and it is authenticated.",
        )
    if result["ok"]:
        line = (
            f"Backup {backup_id} is intact but not authenticated: it carries no tag (format "
            "version 1, as made before archives were authenticated); its checksums are "
            "otherwise intact"
        )
    elif allow_unauthenticated and result.get("checksums_intact"):
        line = f"Backup {backup_id} is intact but NOT authenticated: {result['error']}"
    else:
        return False, result["error"] + (
            UNAUTHENTICATED_HINT if result.get("checksums_intact") is not None else ""
        )
    if allow_unauthenticated:
        return True, line + " (accepted: --allow-unauthenticated)."
    return False, line + UNAUTHENTICATED_HINT


@backup_cli.command("verify")
@click.argument("backup_id", required=False, metavar="(BACKUP_ID | --all)")
@click.option("--all", "every", is_flag=True, help="Verify every kept backup, newest first.")
@allow_unauthenticated_option
@json_option
@clear_errors
def verify_command(backup_id, every, allow_unauthenticated, as_json):
    """Check a backup fully: structure, every checksum, the tag, the manifest; record the result.

    Give one BACKUP_ID (see `flask backup list`), or --all for every kept backup.
    """
    config = current_app.config
    if every and backup_id:
        raise click.UsageError("give a backup id or --all, not both")
    if not every and not backup_id:
        raise click.UsageError("give a backup id (see `flask backup list`) or --all")
    ids = [i.backup_id for i in list_backups(config)] if every else [backup_id]
    report, failed = [], []
    with progress_for(as_json) as progress:
        for one in ids:
            try:
                result, manifest = check_backup(config, one, progress=progress)
            except BackupNotFound:
                if every:
                    continue  # deleted meanwhile
                raise
            one = normalize_id(one)
            passed, line = _verdict(one, result, allow_unauthenticated)
            report.append({"id": one, **result, "passed": passed, "manifest": manifest})
            progress.close()  # the bar's line ends before the verdict's
            if not passed:
                failed.append(line)
            elif not as_json:
                click.echo(line)
    if as_json:
        echo_json(report if every else report[0])
    if not every and failed:
        raise Failure(failed[0], DAMAGED)
    for line in failed:
        click.echo(f"FAILED: {line}", err=True)
    if failed:
        sys.exit(DAMAGED)


@backup_cli.command("prune")
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="Default: BACKUP_KEEP (BACKUP_KEEP_DAILY ... _YEARLY keep besides).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would go and which rule keeps each backup; verify and delete nothing.",
)
@json_option
@clear_errors
def prune_command(keep, dry_run, as_json):
    """Apply retention now: keep the newest BACKUP_KEEP verified backups and the tiers; say why."""
    if dry_run:
        print_preview(preview_retention(current_app.config, keep=keep), as_json)
        return
    deleted, plan = prune_backups(current_app.config, keep=keep, explain=True)
    if as_json:
        echo_json({"deleted": deleted})
        return
    if deleted:
        click.echo(f"Deleted {len(deleted)} old backup(s): {', '.join(deleted)}.")
    else:
        click.echo("Nothing to delete.")
    for backup_id, why in plan.kept:
        click.echo(f"Kept {kept_by_words(plan, backup_id, plan.policy.tiered)}: {why}.")


def kept_by_words(plan, backup_id, name_rules):
    """Return "ID", or with ``name_rules`` "ID (last, daily)" when rules keep it."""
    rules = plan.rules_of(backup_id)
    return f"{backup_id} ({', '.join(rules)})" if name_rules and rules else backup_id


def print_preview(plan, as_json):
    """Print a RetentionPlan: what would go, and for every backup what keeps it and why."""
    whys = dict(plan.kept)
    backups = [
        {"id": backup_id, "kept_by": kept_by, "why": whys.get(backup_id, "no rule keeps it")}
        for backup_id, kept_by in plan.kept_by.items()
    ]
    if as_json:
        echo_json({"dry_run": True, "would_delete": plan.delete, "backups": backups})
        return
    if plan.delete:
        click.echo(f"Would delete {len(plan.delete)} old backup(s): {', '.join(plan.delete)}.")
    else:
        click.echo("Would delete nothing.")
    for backup in backups:
        verb = "Keep" if backup["kept_by"] else "Delete"
        click.echo(f"{verb} {kept_by_words(plan, backup['id'], True)}: {backup['why']}.")
    unverified = sum(b["kept_by"] == ["unverified"] for b in backups)
    if unverified:
        click.echo(
            f"{unverified} backup(s) not verified yet: prune verifies them first, "
            "and may then keep or delete otherwise (`flask backup verify --all` to see it now)."
        )
