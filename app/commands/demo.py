"""``flask demo ...``: seed a demo (or a benchmark corpus) and show its logins."""

import click

from app.commands.failures import CommandGroup, failure
from app.demo import (
    DEFAULT_PASSWORD,
    MIB,
    PRESETS,
    DemoError,
    DemoPlan,
    demo_logins,
    seed_corpus,
    seed_demo,
)


@click.group("demo", cls=CommandGroup)
def demo_cli():
    """Seed and inspect demo data."""


def echo_logins(logins, password):
    """Print the demo logins, one a line, with the shared password."""
    if not logins:
        click.echo("No demo logins (the demo users are missing or their password changed).")
        return
    click.echo(f"Demo logins (password for all: {password}):")
    width = max(len(email) for email, _ in logins)
    for email, what in logins:
        click.echo(f"  {email:<{width}}  {what}")


@demo_cli.command("seed")
@click.option("--sites", default=3, show_default=True, help="Number of sites.")
@click.option("--pages", default=6, show_default=True, help="Pages per site.")
@click.option("--blocks-per-page", default=6, show_default=True, help="Blocks on each page.")
@click.option(
    "--media-mb", default=20.0, show_default=True, help="Total size of the images, in MiB."
)
@click.option("--seed", default=1, show_default=True, help="The same seed gives the same demo.")
@click.option("--password", default=DEFAULT_PASSWORD, show_default=True, help="Of every login.")
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help="A count-heavy benchmark corpus (100,000 files or 1,000,000 blocks over 20 sites); "
    "--sites, --pages, --blocks-per-page and --media-mb are then ignored.",
)
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    help="With --preset: multiply its counts (0.01 for a tiny one).",
)
def seed(sites, pages, blocks_per_page, media_mb, seed, password, preset, scale):
    """Create demo users, sites, pages, menus and images."""
    plan = DemoPlan(
        sites=sites,
        pages=pages,
        media_mb=media_mb,
        blocks_per_page=blocks_per_page,
        seed=seed,
        password=password,
    )
    try:
        if preset:
            summary = seed_corpus(preset, scale, seed, password, progress=click.echo)
        else:
            summary = seed_demo(plan, progress=click.echo)
    except DemoError as exc:
        raise failure(exc) from None
    click.echo(
        f"Seeded {summary.sites} sites, {summary.pages} pages, {summary.blocks} blocks, "
        f"{summary.menu_items} menu items, {summary.media} images "
        f"({summary.media_bytes / MIB:.1f} MiB)."
    )
    echo_logins(summary.logins, password)


@demo_cli.command("logins")
@click.option("--password", default=DEFAULT_PASSWORD, show_default=True)
def logins(password):
    """List the demo logins that still take the demo password."""
    echo_logins(demo_logins(password), password)
