"""Keeping the backups folder in shape: retention and deletion.

Retention protects intact backups. A backup is intact when its manifest reads
and its last full verification (``app.backup.verification``), if any, passed;
damaged ones never count toward ``BACKUP_KEEP`` and are never deleted
automatically. Only intact backups beyond the newest ``keep`` intact ones are
deleted, so at least ``keep`` intact ones always remain, and never the newest
one whose last full verification passed.
"""

import logging

from app.archive.space import fsync_dir
from app.backup import catalog
from app.backup.catalog import SUFFIX, backup_path, backups_dir, list_backups
from app.backup.lock import backup_lock
from app.backup.verification import damaged_ids, read_results

log = logging.getLogger(__name__)


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
