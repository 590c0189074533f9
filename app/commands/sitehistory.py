"""``flask site history SUBDOMAIN``: a site's versions in the kept backups, and what differs now.

The work is ``app.backup.history.site_history``; this prints it.
"""

import click
from flask import current_app
from flask.cli import with_appcontext

from app.commands import echo_json
from app.extensions import db
from app.humanize import human_time

OFFSITE = "off-site copy, fetched when restored"


@click.command("history")
@click.argument("subdomain")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def site_history_command(subdomain, as_json):
    """List a site's restore points in the kept backups, newest first, with what differs now."""
    from app.backup.history import describe_changes, site_history
    from app.exports import find_site

    site = find_site(db.session, subdomain)  # SiteNotFound: exit 6
    site_id, name = site.id, site.subdomain
    db.session.remove()
    history = site_history(current_app.config, db.engine, site_id, name)
    if as_json:
        data = history.to_dict()
        for version in data["versions"]:
            version["summary"] = describe_changes(version["changes"])
        echo_json(data)
        return
    versions = history.versions
    backups = sum(len(v.backups) for v in versions)
    click.echo(
        f"Site {name} (id {site_id}): {len(versions)} version{'s' if len(versions) != 1 else ''} "
        f"in {backups} backup{'s' if backups != 1 else ''}, newest first, "
        "each compared with the site now."
    )
    for version in versions:
        click.echo(
            f"{version.backup_id}  {human_time(version.created_at)}  "
            f"{describe_changes(version.changes)}"
        )
        if version.offsite:
            click.echo(f"    {OFFSITE}")
        if len(version.backups) > 1:
            click.echo(
                f"    unchanged from {version.oldest_id} ({human_time(version.oldest_created_at)}) "
                f"to {version.backup_id} ({len(version.backups)} backups)"
            )
    if not versions:
        click.echo("No kept backup holds this site.")
    if history.not_indexed:
        click.echo(
            "Not indexed yet (a backup or restore was running): "
            + ", ".join(history.not_indexed)
            + "; run the command again later."
        )
    for backup_id, error in history.unreadable.items():
        click.echo(f"Left out, cannot be read: {backup_id}: {error}")
