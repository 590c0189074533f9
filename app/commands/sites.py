"""``flask site ...``: manage sites."""

import contextlib
import re

import click
from flask import current_app
from sqlalchemy import func, select

from app.commands.failures import CommandGroup, Failure, failure
from app.commands.sitehistory import site_history_command
from app.errors import StinkyKittyError
from app.extensions import db
from app.models import InvalidDomain, Site, SiteUser, User, normal_domain

SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@click.group("site", cls=CommandGroup)
def site_cli():
    """Manage sites."""


site_cli.add_command(site_history_command)


@site_cli.command("create")
@click.option("--subdomain", required=True, help="Lowercase letters, digits and dashes.")
@click.option("--owner", "owner_email", required=True, help="Email of an existing user.")
@click.option("--title", default=None, help="Defaults to the subdomain.")
@click.option("--custom-domain", default=None, help="A domain of its own, e.g. camp.example.org.")
def create_site(subdomain, owner_email, title, custom_domain):
    """Create a site owned by an existing user."""
    subdomain = subdomain.strip().lower()
    if not SUBDOMAIN.match(subdomain):
        raise click.ClickException(f"invalid subdomain {subdomain!r}: use a-z, 0-9 and dashes")
    try:
        custom_domain = normal_domain(custom_domain)
    except InvalidDomain as exc:
        raise Failure(f"invalid custom domain: {exc}", exc.exit_code) from None
    taken = select(Site.subdomain).where(Site.custom_domain == custom_domain)
    holder = custom_domain and db.session.scalar(taken)
    if holder:
        raise click.ClickException(f"the custom domain {custom_domain} is taken by site {holder}")
    owner = db.session.scalar(select(User).where(func.lower(User.email) == owner_email.lower()))
    if owner is None:
        raise click.ClickException(f"no user with email {owner_email}")
    if db.session.scalar(select(Site).where(Site.subdomain == subdomain)):
        raise click.ClickException(f"site {subdomain} already exists")
    site = Site(
        subdomain=subdomain,
        owner=owner,
        title=title or subdomain,
        theme={},
        custom_domain=custom_domain,
    )
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
    from app.commands.progress import TerminalProgress
    from app.exports import ExportError, export_site, find_site

    try:
        site = find_site(db.session, subdomain)
        with TerminalProgress(f"Exporting {site.subdomain}") as progress:
            result = export_site(current_app.config, site.id, dest=output, progress=progress)
    except ExportError as exc:  # no such site, or the export failed: nothing was kept
        raise failure(exc) from None
    counts = result.counts
    click.echo(
        f"Exported {site.subdomain} to {result.path} ({result.size} bytes, "
        f"{counts['pages']} pages, {counts['media']} media), sha256 {result.sha256}"
    )
    click.echo(
        "It includes the site as web pages: unpack it and open site/index.html in a browser, "
        "or put the folder on any web host."
    )


def _export_owner(preview):
    """Return the email of the export's owner when that user is here; else ask for --owner."""
    recorded = preview["owner"]
    if recorded and db.session.scalar(
        select(User.id).where(func.lower(User.email) == recorded.lower())
    ):
        return recorded
    why = (
        f"its owner {recorded} is not a user here"
        if recorded
        else "the export does not say who owned the site"
    )
    raise click.ClickException(
        f"A new site needs an owner, and {why}: name an owner with --owner EMAIL."
    )


@site_cli.command("import")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--subdomain", default=None, help="The new site's subdomain.")
@click.option(
    "--owner",
    "owner_email",
    default=None,
    help="Email of the new site's owner (default: the export's owner, if a user here).",
)
@click.option("--replace", "replace", default=None, metavar="SUBDOMAIN", help="Replace this site.")
@click.option("--yes", is_flag=True, help="Do not ask before replacing a site.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def import_site_command(archive, subdomain, owner_email, replace, yes, as_json):
    """Create a site from a site export, or replace one with it (--replace)."""
    from app.backup import notify
    from app.commands import echo_json
    from app.commands.progress import TerminalProgress
    from app.commands.siterestore import confirm, echo_summary
    from app.coordination import site_guard
    from app.exports import find_site, import_site, inspect_export

    config = current_app.config
    try:
        preview = inspect_export(config, archive).to_dict()
        target = find_site(db.session, replace) if replace else None
        if target is not None and not yes:
            click.echo(
                f"{archive} holds the site {preview['subdomain']} ({preview['title']}) as "
                f"exported on {preview['exported_at']}: {preview['counts'].get('pages', '?')} "
                f"pages, {preview['counts'].get('media', '?')} media.",
                err=as_json,
            )
            confirm(
                f"Import will replace every page, menu item and media file of the site "
                f"{target.subdomain}. Continue? (y/n)",
                as_json,
            )
        target_id = target.id if target is not None else None
        if target is None and owner_email is None:
            owner_email = _export_owner(preview)
        db.session.remove()
        told = contextlib.nullcontext()
        if target_id is not None:  # replacing a site from a file: a restore of one site
            told = notify.restore_reported(
                config, started_by=notify.BY_CLI, site=target.subdomain, source=str(archive)
            )
        with told, TerminalProgress("Reading export") as progress:
            summary = import_site(
                config,
                db.engine,
                archive,
                subdomain=subdomain,
                owner_email=owner_email,
                replace_site_id=target_id,
                guard=site_guard(config, "site import"),
                progress=None if as_json else progress,
            )
    except StinkyKittyError as exc:  # refused, damaged, locked...: nothing was changed
        raise failure(exc) from None
    if as_json:
        echo_json(summary.to_dict())
        return
    echo_summary("Replaced" if target_id else "Imported as new", summary.to_dict())
