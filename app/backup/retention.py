"""Keeping the backups folder in shape: retention, deletion, and the status monitoring reads.

Retention protects intact backups. A backup is intact when its manifest reads
and its last full verification (``app.backup.verification``), if any, passed;
damaged ones never count toward ``BACKUP_KEEP`` and are never deleted
automatically. Only intact backups beyond the newest ``keep`` intact ones are
deleted, so at least ``keep`` intact ones always remain, and never the newest
one whose last full verification passed.
"""

import logging
import shutil

from app.archive.space import fsync_dir
from app.backup import catalog
from app.backup.catalog import SUFFIX, backup_path, backups_dir, format_time, list_backups
from app.backup.lock import backup_lock, lock_holder
from app.backup.maintenance import maintenance_state
from app.backup.verification import damaged_ids, read_results
from app.config import data_path
from app.models.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 26 * 3600


def retention_plan(config, keep):
    """Return ([ids to delete], [(id, why it is kept)]), newest first, for keeping ``keep``."""
    keep = max(1, int(keep))
    results = read_results(config)
    damaged = damaged_ids(config)
    infos = list_backups(config)
    intact = [i for i in infos if i.ok and i.backup_id not in damaged]
    verified = next((i.backup_id for i in intact if results.get(i.backup_id, {}).get("ok")), None)
    delete, kept = [], []
    for info in infos:
        if not info.ok or info.backup_id in damaged:
            error = info.error or damaged[info.backup_id]
            kept.append((info.backup_id, f"damaged, not counted; check and delete it ({error})"))
        elif intact.index(info) < keep:
            kept.append((info.backup_id, f"one of the newest {keep} intact backups"))
        elif info.backup_id == verified:
            kept.append((info.backup_id, "the newest backup whose full verification passed"))
        else:
            delete.append(info.backup_id)
    return delete, kept


def prune_locked(config, keep, *, plan=None):
    """Delete intact backups beyond the newest ``keep`` intact ones (see above); hold the lock."""
    deleted = []
    delete, _kept = plan or retention_plan(config, keep)
    for backup_id in delete:
        (backups_dir(config) / (backup_id + SUFFIX)).unlink(missing_ok=True)
        deleted.append(backup_id)
    if deleted:
        fsync_dir(backups_dir(config))
        log.info("retention (keep %d) deleted %s", max(1, int(keep)), ", ".join(deleted))
    return deleted


def prune_backups(config, *, keep=None, explain=False):
    """Apply retention now: keep the newest ``keep`` (default BACKUP_KEEP) intact backups.

    Damaged archives are neither counted nor deleted (they are listed as
    damaged so a person decides). Returns the deleted ids, or with ``explain``
    (deleted ids, [(kept id, why)]).
    """
    keep = config.get("BACKUP_KEEP", 10) if keep is None else keep
    with backup_lock(config, "prune"):
        plan = retention_plan(config, keep)
        deleted = prune_locked(config, keep, plan=plan)
    return (deleted, plan[1]) if explain else deleted


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
    damaged = damaged_ids(config)
    good = [i for i in infos if i.ok and i.backup_id not in damaged]
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
        "damaged": [
            {"id": i.backup_id, "error": i.error or damaged[i.backup_id]}
            for i in infos
            if not i.ok or i.backup_id in damaged
        ],
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
