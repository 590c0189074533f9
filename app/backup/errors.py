"""Errors of the backup core; each message is one line a person can act on."""


class BackupError(Exception):
    """Base of every backup, restore and export error."""


class BackupNotFound(BackupError):
    """No backup with the given id."""


class CorruptArchive(BackupError):
    """The archive is damaged or not one of ours (truncated, bad checksum, bad manifest)."""


class UnsafeArchive(CorruptArchive):
    """The archive holds what we never extract: links, devices, '..', unlisted members, a bomb."""


class NotEnoughSpace(BackupError):
    """Not enough free disk space, found before starting or when the disk filled up."""


class BackupLocked(BackupError):
    """Another backup or restore is running."""


class RestoreFailed(BackupError):
    """A restore failed and everything was put back as it was."""


class SchemaMismatch(BackupError):
    """The backup's database schema (Alembic revision) is not the one of this database."""
