"""Errors of system backups and restores; each message is one line a person can act on.

``BackupError`` is the archive's base error under the name the layers above
catch: a damaged archive or a full disk is a backup error too.
"""

from app.archive.errors import (
    ArchiveError,
    CorruptArchive,
    NotEnoughSpace,
    Unauthenticated,
    UnsafeArchive,
)

BackupError = ArchiveError

__all__ = [
    "BackupError",
    "BackupLocked",
    "BackupNotFound",
    "CorruptArchive",
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


class BackupLocked(BackupError):
    """Another backup or restore is running."""


class RestoreFailed(BackupError):
    """A restore failed and everything was put back as it was."""


class SchemaMismatch(BackupError):
    """The backup's database schema (Alembic revision) is not the one of this database."""


class PausedForRestore(BackupError):
    """A task that touches site data was asked to run while a restore holds the maintenance flag."""


class TasksStillRunning(BackupError):
    """A restore gave up waiting for running tasks; nothing was changed."""
