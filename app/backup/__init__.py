"""System backups: the whole database plus every uploaded file, as one archive.

This module is the face the layers above use. Inside:

- ``system``: create and verify a backup; ``dumpahead`` dumps the database
  while ``mediasnap`` walks the uploads;
- ``catalog``: the folder of backups and what each one is (``BackupInfo``);
- ``verification``: full verifications, recorded, and which are due;
- ``retention``: what is kept and what is deleted; ``tiers``: the rules that
  keep (the newest N, days, weeks, months, years: borg's prune, without I/O);
- ``runs`` (a recorded run) and ``runlog`` (the record of every run);
  ``schedule``: when the next ones are;
- ``status``: "how are the backups?", the problems it finds; ``metrics``:
  the same as Prometheus gauges;
- ``backupsites``, ``downloads`` and ``webjobs``: the backups page's reading
  of a backup's sites, its download links and its jobs;
- ``restore/``: the whole system or one site back from a backup;
- ``history/``: a site's versions in the kept backups (the site index beside
  each backup), what differs from now, and restoring one;
- ``offsite/``: copies in object storage;
- ``notify/``: someone is told of problems and restores;
- ``errors``: ``BackupError`` and its kin.

Below: the database layer (``app.dumps``), one site's data
(``app.sitedata``), coordination (``app.coordination``), the archive format
(``app.archive``), object storage (``app.storage``) and the models.
"""

from app.backup import history, metrics, notify, offsite, restore, webjobs
from app.backup.backupsites import live_site, sites_in_backup
from app.backup.catalog import BackupInfo, backup_path, backups_dir, normalize_id, read_info
from app.backup.downloads import (
    InvalidBackupLink,
    check_backup_token,
    file_checksum,
    make_backup_token,
)
from app.backup.errors import (
    ArchiveError,
    BackupError,
    BackupLocked,
    BackupNotFound,
    CorruptArchive,
    DamagedBackup,
    NotEnoughSpace,
    PausedForRestore,
    RestoreFailed,
    SchemaMismatch,
    TasksStillRunning,
    Unauthenticated,
    UnsafeArchive,
)
from app.backup.restore import RestoreOutcome, restore_backup
from app.backup.retention import RetentionPlan, delete_backup, preview_retention, prune_backups
from app.backup.runs import BackupRunFailed, run_backup
from app.backup.schedule import backup_schedule, parse_crontab, verify_schedule
from app.backup.status import BackupStatus, backup_status
from app.backup.system import BackupOutcome, create_backup, list_backups, verify_backup
from app.backup.verification import check_backup, read_results, verification_overdue, verify_due

__all__ = [
    "ArchiveError",
    "BackupError",
    "BackupInfo",
    "BackupLocked",
    "BackupNotFound",
    "BackupOutcome",
    "BackupRunFailed",
    "BackupStatus",
    "CorruptArchive",
    "DamagedBackup",
    "InvalidBackupLink",
    "NotEnoughSpace",
    "PausedForRestore",
    "RestoreFailed",
    "RestoreOutcome",
    "RetentionPlan",
    "SchemaMismatch",
    "TasksStillRunning",
    "Unauthenticated",
    "UnsafeArchive",
    "backup_path",
    "backup_schedule",
    "backup_status",
    "backups_dir",
    "check_backup",
    "check_backup_token",
    "create_backup",
    "delete_backup",
    "file_checksum",
    "history",
    "list_backups",
    "live_site",
    "make_backup_token",
    "metrics",
    "normalize_id",
    "notify",
    "offsite",
    "parse_crontab",
    "preview_retention",
    "prune_backups",
    "read_info",
    "read_results",
    "restore",
    "restore_backup",
    "run_backup",
    "sites_in_backup",
    "verification_overdue",
    "verify_backup",
    "verify_due",
    "verify_schedule",
    "webjobs",
]
