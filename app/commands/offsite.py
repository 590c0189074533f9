"""``flask backup list --remote | fetch | upload | verify-remote``: the off-site copies.

The work is done by ``app.backup.offsite.upload`` and ``app.backup.offsite.fetch``;
these commands print. Errors become one line on stderr and their exit status.
"""

import click
from flask import current_app

from app.backup import BackupError
from app.backup.offsite import (
    after_backup,
    fetch_backup,
    remote_copies,
    remote_store,
    upload_now,
    verify_remote,
)
from app.commands import echo_json
from app.commands.backupgroup import allow_unauthenticated_option, clear_errors, json_option
from app.commands.failures import Failure
from app.errors import DAMAGED
from app.humanize import human_age, human_size
from app.models import parse_utc, utcnow


def print_remote_list(as_json):
    """Print the remote copies, newest first (``flask backup list --remote``)."""
    config = current_app.config
    store = remote_store(config)
    copies = remote_copies(config, store=store)
    local = {info.backup_id for info in _local_infos(config)}
    if as_json:
        echo_json([{**c, "local": c["backup_id"] in local} for c in copies])
        return
    if not copies:
        click.echo(f"No backups in {store.where()}.")
        return
    now = utcnow()
    click.echo(f"{'ID':<30} {'SIZE':>10} {'AGE':>12}  {'ENCRYPTED':<9}  HERE")
    for c in copies:
        age = human_age((now - parse_utc(c["created_at"])).total_seconds())
        encrypted = "yes" if c.get("encrypted") else "no"
        here = "yes" if c["backup_id"] in local else "no"
        click.echo(
            f"{c['backup_id']:<30} {human_size(c['size']):>10} {age:>12}  {encrypted:<9}  {here}"
        )


def _local_infos(config):
    from app.backup import list_backups

    return list_backups(config)


@click.command("fetch")
@click.argument("backup_id")
@allow_unauthenticated_option
@json_option
@clear_errors
def fetch_command(backup_id, allow_unauthenticated, as_json):
    """Download an off-site copy, verify it and place it with the local backups."""
    path = fetch_backup(current_app.config, backup_id, allow_unauthenticated=allow_unauthenticated)
    if as_json:
        echo_json({"id": path.name.removesuffix(".tar.gz"), "path": str(path)})
        return
    click.echo(f"Fetched and verified {path.name} into {path.parent}.")


@click.command("upload")
@click.argument("backup_id", required=False)
@json_option
@clear_errors
def upload_command(backup_id, as_json):
    """Copy a backup off-site now (default: the newest), then apply remote retention."""
    config = current_app.config
    if backup_id is None:
        fields = after_backup(config)
        if fields.get("offsite") in ("failed", "skipped"):
            raise BackupError(fields["offsite_error"])
        if not fields:
            raise BackupError(
                "no intact backup to copy (or BACKUP_STORAGE_URL is not set); "
                "`flask backup list` shows them"
            )
        result = fields
    else:
        result = upload_now(config, backup_id)
    if as_json:
        echo_json(result)
    else:
        click.echo("Copied off-site." if backup_id is None else f"Copied {result['object']}.")


@click.command("verify-remote")
@json_option
@clear_errors
def verify_remote_command(as_json):
    """Check every off-site copy's size and checksum, and read one in full; exit 4 on damage."""
    results = verify_remote(current_app.config)
    if as_json:
        echo_json(results)
    else:
        for r in results:
            how = "read in full" if r["read"] else "size and checksum"
            click.echo(f"{r['id']}: {'ok' if r['ok'] else 'DAMAGED: ' + r['error']} ({how})")
    bad = [r for r in results if not r["ok"]]
    if bad:
        raise Failure(f"{len(bad)} remote copy(ies) failed the check", DAMAGED)


def register(group):
    """Add the off-site commands to the ``backup`` group."""
    for command in (fetch_command, upload_command, verify_remote_command):
        group.add_command(command)
