"""The ``flask`` command groups of StinkyKitty: user, site, demo, setup, backup, db.

Each group lives in its own module under ``app/commands/`` and only parses
arguments and prints; the work is done by functions in ``app/``.
"""


def register(app):
    """Attach every command group to ``app.cli``."""
    from app.commands import (
        backup_checks,  # noqa: F401  (adds verify and prune to the group)
        notify,  # noqa: F401  (adds notify to the backup group)
    )
    from app.commands.backup import backup_cli
    from app.commands.demo import demo_cli
    from app.commands.migrations import db_cli
    from app.commands.offsite import register as register_offsite
    from app.commands.setup import setup_command
    from app.commands.sites import site_cli
    from app.commands.users import user_cli

    register_offsite(backup_cli)
    for group in (user_cli, site_cli, demo_cli, setup_command, backup_cli, db_cli):
        app.cli.add_command(group)
