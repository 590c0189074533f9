"""Keeping the backups folder in shape: retention, deletion, and the status monitoring reads."""

import logging
import shutil

from app.archive.space import fsync_dir
from app.backup import catalog
from app.backup.catalog import SUFFIX, backup_path, backups_dir, format_time, list_backups
from app.backup.lock import backup_lock, lock_holder
from app.backup.maintenance import maintenance_state
from app.config import data_path
from app.models.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 26 * 3600


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


def backup_status(config, *, clock=utcnow):
    """Return the state of the backups: count, sizes, free disk, newest good one, staleness."""
    now = clock()
    folder = backups_dir(config)
    infos = list_backups(config)
    good = [i for i in infos if i.ok]
    newest = good[0] if good else None
    max_age = int(config.get("BACKUP_MAX_AGE", DEFAULT_MAX_AGE))
    last_success = newest.created_at if newest else None
    note = catalog.read_current_note(config)
    if newest and note and note["backup_id"] == newest.backup_id:
        last_success = max(last_success, note["checked_at"])
    age = (now - last_success).total_seconds() if last_success else None
    if newest is None:
        reason = f"no good backup in {folder}"
    elif age > max_age:
        reason = (
            f"the newest good backup ({newest.backup_id}) was last confirmed "
            f"{age / 3600:.1f} h ago, more than the {max_age / 3600:g} h allowed"
        )
    else:
        reason = None
    usage = shutil.disk_usage(folder if folder.exists() else data_path(config))
    return {
        "count": len(good),
        "damaged": [{"id": i.backup_id, "error": i.error} for i in infos if not i.ok],
        "total_size": sum(i.size for i in infos),
        "free_bytes": usage.free,
        "folder": str(folder),
        "newest": newest.to_dict(now) if newest else None,
        "last_success_at": format_time(last_success) if last_success else None,
        "age_seconds": round(age, 3) if age is not None else None,
        "max_age_seconds": max_age,
        "stale": reason is not None,
        "reason": reason,
        "running": lock_holder(config),
        "old_media_folders": [str(p) for p in catalog.old_media_folders(config)],
        "maintenance": maintenance_state(config),
    }
