"""``flask site ...``: manage sites."""

import re

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.models import Site, SiteUser, User

SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@click.group("site", cls=AppGroup)
def site_cli():
    """Manage sites."""


@site_cli.command("create")
@click.option("--subdomain", required=True, help="Lowercase letters, digits and dashes.")
@click.option("--owner", "owner_email", required=True, help="Email of an existing user.")
@click.option("--title", default=None, help="Defaults to the subdomain.")
def create_site(subdomain, owner_email, title):
    """Create a site owned by an existing user."""
    subdomain = subdomain.strip().lower()
    if not SUBDOMAIN.match(subdomain):
        raise click.ClickException(f"invalid subdomain {subdomain!r}: use a-z, 0-9 and dashes")
    owner = db.session.scalar(select(User).where(func.lower(User.email) == owner_email.lower()))
    if owner is None:
        raise click.ClickException(f"no user with email {owner_email}")
    if db.session.scalar(select(Site).where(Site.subdomain == subdomain)):
        raise click.ClickException(f"site {subdomain} already exists")
    site = Site(subdomain=subdomain, owner=owner, title=title or subdomain, theme={})
    db.session.add(site)
    db.session.flush()
    db.session.add(SiteUser(user_id=owner.id, site_id=site.id, role="owner"))
    db.session.commit()
    click.echo(f"Created site {subdomain} (id {site.id}) owned by {owner.email}.")


@site_cli.command("export")
@click.argument("subdomain")
@click.option(
    "-o", "--output", "output", type=click.Path(dir_okay=False), help="Write the export here."
)
def export_site_command(subdomain, output):
    """Export one site (settings, pages, menu, media) as a .tar.gz."""
    from app.backup.errors import BackupError
    from app.commands.progress import TerminalProgress
    from app.exports.archive import export_site, find_site

    try:
        site = find_site(db.session, subdomain)
        with TerminalProgress(f"Exporting {site.subdomain}") as progress:
            result = export_site(current_app.config, site.id, dest=output, progress=progress)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = result.counts
    click.echo(
        f"Exported {site.subdomain} to {result.path} ({result.size} bytes, "
        f"{counts['pages']} pages, {counts['media']} media), sha256 {result.sha256}"
    )
