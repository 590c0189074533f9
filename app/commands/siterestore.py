"""``flask backup restore ID --site SUBDOMAIN`` and ``flask site import``: the printing side.

The work is done by ``app.backup.restore.site`` (reading one site out of a
system backup), ``app.exports.siteimport`` (reading a site export) and the
site loader both hand their rows to (``app.sitedata.loader``).
"""

import sys

import click

from app.backup import notify
from app.commands import echo_json
from app.extensions import db


def echo_summary(verb, summary):
    """Print what a load did, including everything that had to give way."""
    counts = summary["counts"]
    click.echo(
        f"{verb} site {summary['subdomain']} (id {summary['site_id']}): {counts['pages']} pages, "
        f"{counts['blocks']} blocks, {counts['menu_items']} menu items, {counts['media']} media "
        f"({counts['media_files']} files), in {summary['duration']:.1f} s."
    )
    if summary["dropped_members"]:
        click.echo(
            "Members that are no longer users here were left out: "
            + ", ".join(summary["dropped_members"])
        )
    if summary["uploaders_cleared"]:
        click.echo(
            f"{summary['uploaders_cleared']} media item(s) lost their uploader "
            "(no such user here any more)."
        )
    if summary["remapped"]:
        remapped = ", ".join(f"{table} {n}" for table, n in summary["remapped"].items())
        click.echo(f"Ids taken by other sites since, given new ids: {remapped}.")
    for note in summary["notes"]:
        click.echo(f"Note: {note}.")


def confirm(question, err):
    """Ask ``question``; exit 1 saying nothing changed unless the answer is y/yes."""
    answer = click.prompt(question, default="", show_default=False, prompt_suffix=" ", err=err)
    if answer.strip().lower() not in ("y", "yes"):
        click.echo("Cancelled; nothing changed.", err=True)
        sys.exit(1)


SITE_PROMPT = "Restore will overwrite the site {subdomain}. Continue? (y/n)"
SITE_PROMPT_UNAUTHENTICATED = (
    "Restore will overwrite the site {subdomain} with an archive NOT authenticated by this "
    "server's BACKUP_KEY. Continue? (y/n)"
)


def restore_one_site(config, info, subdomain, *, yes, as_json, allow_unauthenticated=False):
    """Restore one site from the backup ``info`` describes, asking first unless ``yes``."""
    from app.backup.restore import restore_site
    from app.commands.backupgroup import describe_backup, progress_for

    if not yes:
        click.echo(f"{describe_backup(info)}.", err=as_json)
        click.echo(
            f"Only the site {subdomain} is replaced with its state in this backup (its "
            "settings, pages, menu and media); every other site stays as it is.",
            err=as_json,
        )
        prompt = SITE_PROMPT_UNAUTHENTICATED if allow_unauthenticated else SITE_PROMPT
        confirm(prompt.format(subdomain=subdomain), as_json)
    db.session.remove()
    told = notify.restore_reported(
        config, started_by=notify.BY_CLI, backup_id=info.backup_id, site=subdomain.strip().lower()
    )
    with told, progress_for(as_json) as progress:
        outcome = restore_site(
            config,
            db.engine,
            info.backup_id,
            subdomain,
            progress=progress,
            allow_unauthenticated=allow_unauthenticated,
        )
    result = outcome.to_dict()
    if as_json:
        echo_json(result)
        return
    echo_summary(f"Restored from backup {outcome.backup_id}:", result)
    if result["created"]:
        click.echo("The site had been deleted since the backup: it was created again.")
