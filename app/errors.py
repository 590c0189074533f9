"""The root of every error of StinkyKitty, and the exit codes of the ``flask`` commands.

This module imports nothing, so every layer may import it, the standalone
archive format and object store included. Beside the root stand the bases of
the two capabilities, ``BackupError`` and ``ExportError``: the layers below
them (the dump and load of a database, one site's data, the locks) raise
errors of the capability they serve without importing it. Each error class carries the exit
status a ``flask`` command ends with when it is raised (docs/backups.md lists
them); a subclass changes it by setting ``exit_code``.
"""

FAILED = 1  # a general failure: the message says what and why
USAGE = 2  # the command was called wrongly (click's own status)
BUSY = 3  # locked or busy: something else runs; try again later
DAMAGED = 4  # damaged or unauthenticated data: do not trust it
REFUSED = 5  # refused input: hostile, invalid or over a limit
NOT_FOUND = 6  # no backup, site or copy by that name
NO_ROOM = 7  # not enough disk space


class StinkyKittyError(Exception):
    """Base of every error of the app; its message is one line a person can act on."""

    exit_code = FAILED


class BackupError(StinkyKittyError):
    """Base of every error of making, keeping, copying and restoring system backups."""


class ExportError(StinkyKittyError):
    """Base of every error of exporting, uploading, importing and restoring one site."""
