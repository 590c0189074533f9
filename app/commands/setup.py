"""``flask setup``: make a data dir ready to serve; safe to run on every start."""

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from app import get_celery, init_migrations
from app.broker import prepare_celery_storage
from app.commands.demo import echo_logins
from app.commands.failures import clear_errors, failure
from app.demo import DEFAULT_PASSWORD, DemoError, DemoPlan, demo_logins, seed_demo
from app.extensions import db
from app.models import User


@click.command("setup")
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="Seed the demo when the database has no users (never in production).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Host shown in the URL.")
@click.option("--port", default=5000, show_default=True, envvar="PORT", help="Port in the URL.")
@with_appcontext
@clear_errors
def setup_command(demo, host, port):
    """Migrate the database, create the embedded broker's tables, seed an empty database."""
    from flask_migrate import upgrade  # here: it imports Alembic, which few commands need

    app = current_app._get_current_object()
    init_migrations(app)
    upgrade()
    prepare_celery_storage(get_celery(app))
    if demo and not db.session.scalar(select(func.count()).select_from(User)):
        click.echo("The database has no users: seeding the demo.")
        try:
            seed_demo(DemoPlan(), progress=click.echo)
        except DemoError as exc:
            raise failure(exc) from None
    click.echo(f"StinkyKitty admin: http://{host}:{port}/login")
    if demo:
        echo_logins(demo_logins(DEFAULT_PASSWORD), DEFAULT_PASSWORD)
