"""``flask db``: Flask-Migrate's command group, loaded only when ``flask db ...`` runs.

Flask-Migrate imports Alembic, a sixth of a second that no other command
needs. This stand-in gives ``flask --help`` its one line; the moment click
parses ``flask db ...`` it binds Flask-Migrate (``app.init_migrations``) and
hands over to the real group, which then parses and runs as it always did.
"""

import click
from flask.cli import ScriptInfo


class MigrationsGroup(click.Group):
    """Stand-in for Flask-Migrate's ``db`` group until it is used."""

    def __init__(self):
        super().__init__("db", help="Perform database migrations.")

    def make_context(self, info_name, args, parent=None, **extra):
        """Bind Flask-Migrate and let its own group parse ``args`` (click then invokes it)."""
        from app import init_migrations

        app = parent.ensure_object(ScriptInfo).load_app()  # as with_appcontext finds it
        real = init_migrations(app)
        return real.make_context(info_name, args, parent=parent, **extra)


db_cli = MigrationsGroup()
