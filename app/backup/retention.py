"""Keeping the backups folder in shape: retention and deletion."""

import logging

from app.archive.space import fsync_dir
from app.backup import catalog
from app.backup.catalog import SUFFIX, backup_path, backups_dir, list_backups
from app.backup.lock import backup_lock

log = logging.getLogger(__name__)


def prune_locked(config, keep):
    """Delete good backups beyond the newest ``keep`` (never damaged ones); hold the lock."""
    keep = max(1, int(keep))
    good = [info for info in list_backups(config) if info.ok]
    deleted = []
    for info in good[keep:]:
        info.path.unlink(missing_ok=True)
        deleted.append(info.backup_id)
    if deleted:
        fsync_dir(backups_dir(config))
        log.info("retention (keep %d) deleted %s", keep, ", ".join(deleted))
    return deleted


def prune_backups(config, *, keep=None):
    """Apply retention now: keep the newest ``keep`` (default BACKUP_KEEP) good backups.

    Damaged archives are neither counted nor deleted (they are listed as
    damaged so a person decides). Returns the deleted ids.
    """
    with backup_lock(config, "prune"):
        return prune_locked(config, config.get("BACKUP_KEEP", 10) if keep is None else keep)


def delete_backup(config, backup_id):
    """Delete one backup (good or damaged)."""
    path = backup_path(config, backup_id)
    with backup_lock(config, "delete"):
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
    note = catalog.read_current_note(config)
    if note and note["backup_id"] == path.name[: -len(SUFFIX)]:
        (backups_dir(config) / catalog.CURRENT_NOTE).unlink(missing_ok=True)
    log.info("backup %s deleted", path.name)
