"""The errors of coordination: a lock is held, a restore pauses the tasks.

They are backups' errors (``BackupError``, from the root in ``app.errors``):
the lock is the backup lock, the pause a restore's.
"""

from app.errors import BUSY, BackupError


class BackupLocked(BackupError):
    """Another backup or restore is running."""

    exit_code = BUSY


class PausedForRestore(BackupError):
    """A task that touches site data was asked to run while a restore holds the maintenance flag."""

    exit_code = BUSY


class TasksStillRunning(BackupError):
    """A restore gave up waiting for running tasks; nothing was changed."""

    exit_code = BUSY
