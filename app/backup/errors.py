"""Errors of system backups and restores; each message is one line a person can act on.

``BackupError`` stands under the app's root error (both in ``app.errors``, so
the layers below backups raise it too), beside the archive format's
``ArchiveError``. The errors of the locks (``BackupLocked``, ...) are
``app.coordination``'s, re-exported here. A damaged archive is an ``ArchiveError``
(``CorruptArchive``, ``Unauthenticated``...), re-exported here for the layers
above; an error that is both a backup's and the format's inherits both.
"""

from app.archive import ArchiveError, CorruptArchive, NotEnoughSpace, Unauthenticated, UnsafeArchive
from app.coordination import BackupLocked, PausedForRestore, TasksStillRunning
from app.errors import NOT_FOUND, REFUSED, BackupError

__all__ = [
    "ArchiveError",
    "BackupError",
    "BackupLocked",
    "BackupNotFound",
    "CorruptArchive",
    "DamagedBackup",
    "NotEnoughSpace",
    "PausedForRestore",
    "RestoreFailed",
    "SchemaMismatch",
    "TasksStillRunning",
    "Unauthenticated",
    "UnsafeArchive",
]


class BackupNotFound(BackupError):
    """No backup with the given id."""

    exit_code = NOT_FOUND


class RestoreFailed(BackupError):
    """A restore failed and everything was put back as it was."""


class SchemaMismatch(BackupError):
    """The backup's database schema (Alembic revision) is not the one of this database."""

    exit_code = REFUSED


class DamagedBackup(BackupError, CorruptArchive):
    """A backup archive is damaged or not one of ours: a backup's error and the format's."""

    exit_code = CorruptArchive.exit_code
