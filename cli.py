"""The ``flask`` command groups of StinkyKitty: user, site, demo, backup.

Each group lives in its own module under ``app/commands/`` and only parses
arguments and prints; the work is done by functions in ``app/``.
"""


def register(app):
    """Attach every command group to ``app.cli``."""
    from app.commands.backup import backup_cli
    from app.commands.sites import site_cli
    from app.commands.users import user_cli

    for group in (user_cli, site_cli, backup_cli):
        app.cli.add_command(group)
