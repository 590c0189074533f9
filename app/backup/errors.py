"""Errors of system backups and restores; each message is one line a person can act on.

``BackupError`` stands under the app's root error (``app.errors``), beside the
archive format's ``ArchiveError``. A damaged archive is an ``ArchiveError``
(``CorruptArchive``, ``Unauthenticated``...), re-exported here for the layers
above; an error that is both a backup's and the format's inherits both.
"""

from app.archive.errors import (
    ArchiveError,
    CorruptArchive,
    NotEnoughSpace,
    Unauthenticated,
    UnsafeArchive,
)
from app.errors import BUSY, NOT_FOUND, REFUSED, StinkyKittyError

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


class BackupError(StinkyKittyError):
    """Base of every error of making, keeping, copying and restoring system backups."""


class BackupNotFound(BackupError):
    """No backup with the given id."""

    exit_code = NOT_FOUND


class BackupLocked(BackupError):
    """Another backup or restore is running."""

    exit_code = BUSY


class RestoreFailed(BackupError):
    """A restore failed and everything was put back as it was."""


class SchemaMismatch(BackupError):
    """The backup's database schema (Alembic revision) is not the one of this database."""

    exit_code = REFUSED


class PausedForRestore(BackupError):
    """A task that touches site data was asked to run while a restore holds the maintenance flag."""

    exit_code = BUSY


class TasksStillRunning(BackupError):
    """A restore gave up waiting for running tasks; nothing was changed."""

    exit_code = BUSY


class DamagedBackup(BackupError, CorruptArchive):
    """A backup archive is damaged or not one of ours: a backup's error and the format's."""

    exit_code = CorruptArchive.exit_code
