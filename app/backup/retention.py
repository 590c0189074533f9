"""Keeping the backups folder in shape: retention and deletion.

Retention deletes a backup only when what it keeps is known to be good. Each
kept backup stands as "good" (its last full verification passed, on the file
as it is now), "damaged" (its manifest does not read, or its last verification
failed) or "unverified" (never verified, or changed since); see
``app.backup.verification.standing``.

Before deciding, retention verifies the backups it would keep and count that
were never verified, newest first, within the verification budget
(``BACKUP_VERIFY_BUDGET``): a damaged one found so stops counting, and the
next older one is looked at. Then it keeps the newest ``keep`` good backups
and everything newer than the oldest of them (unverified ones included), and
deletes only what is older than that. So it never deletes anything while fewer
than ``keep`` good backups would remain, the newest good backup always
stays, and a damaged one is never deleted automatically (a person decides).
"""

import logging
import time

from app.archive import fsync_dir
from app.backup import catalog, verification
from app.backup.catalog import SUFFIX, backup_path, backups_dir, list_backups
from app.backup.errors import BackupNotFound
from app.coordination import backup_lock

log = logging.getLogger(__name__)


def retention_plan(config, keep):
    """Return ([ids to delete], [(id, why it is kept)]), newest first, for keeping ``keep``.

    Reads the recorded verifications; verifies nothing (``verify_for_retention`` does).
    """
    keep = max(1, int(keep))
    results = verification.read_results(config)
    infos = list_backups(config)
    standing = verification.standing(config, infos)
    good = [i.backup_id for i in infos if standing[i.backup_id] == "good"]
    oldest_kept = good[keep - 1] if len(good) >= keep else None
    delete, kept = [], []
    for info in infos:
        backup_id, stand = info.backup_id, standing[info.backup_id]
        if stand == "damaged":
            error = info.error or results.get(backup_id, {}).get("error")
            kept.append((backup_id, f"damaged, not counted; check and delete it ({error})"))
        elif oldest_kept is not None and backup_id < oldest_kept:
            delete.append(backup_id)
        elif stand == "good":
            kept.append((backup_id, f"one of the newest {keep} verified backups"))
        else:
            kept.append((backup_id, "not verified yet; it counts once it passes"))
    return delete, kept


def verify_for_retention(config, keep, *, budget=None, monotonic=time.monotonic):
    """Verify the never-verified backups retention would keep and count; return their results.

    Only when more backups than ``keep`` are not damaged (else nothing could be
    deleted). Newest first, until the newest ``keep`` not damaged ones are all
    verified, or ``budget`` seconds (default BACKUP_VERIFY_BUDGET) are spent
    after at least one.
    """
    keep = max(1, int(keep))
    budget = config.get("BACKUP_VERIFY_BUDGET", 3600) if budget is None else budget
    started, done = monotonic(), {}
    while True:
        infos = list_backups(config)
        standing = verification.standing(config, infos)
        alive = [i.backup_id for i in infos if standing[i.backup_id] != "damaged"]
        if len(alive) <= keep:
            return done
        due = [i for i in alive[:keep] if standing[i] == "unverified" and i not in done]
        if not due or (done and monotonic() - started >= budget):
            return done
        try:
            done[due[0]] = verification.check_backup(config, due[0])[0]
        except BackupNotFound:
            done[due[0]] = None  # deleted meanwhile
        except OSError as exc:  # unreadable: it stays unverified, and so nothing goes for it
            log.error("retention could not verify backup %s: %s", due[0], exc)
            return done


def prune_locked(config, keep, *, plan=None, budget=None, monotonic=time.monotonic):
    """Apply retention (see above) while holding the backup lock; return the deleted ids.

    Without ``plan``, first verifies what retention would keep and count
    (``verify_for_retention``, within ``budget``).
    """
    if plan is None:
        verify_for_retention(config, keep, budget=budget, monotonic=monotonic)
        plan = retention_plan(config, keep)
    deleted = []
    delete, _kept = plan
    for backup_id in delete:
        (backups_dir(config) / (backup_id + SUFFIX)).unlink(missing_ok=True)
        deleted.append(backup_id)
    if deleted:
        fsync_dir(backups_dir(config))
        log.info("retention (keep %d) deleted %s", max(1, int(keep)), ", ".join(deleted))
    return deleted


def prune_backups(config, *, keep=None, explain=False, budget=None, monotonic=time.monotonic):
    """Apply retention now: keep the newest ``keep`` (default BACKUP_KEEP) verified backups.

    Verifies first what it would keep (within ``budget``, default
    BACKUP_VERIFY_BUDGET). Damaged archives are neither counted nor deleted
    (they are listed as damaged so a person decides). Returns the deleted ids,
    or with ``explain`` (deleted ids, [(kept id, why)]).
    """
    keep = config.get("BACKUP_KEEP", 10) if keep is None else keep
    with backup_lock(config, "prune"):
        verify_for_retention(config, keep, budget=budget, monotonic=monotonic)
        plan = retention_plan(config, keep)
        deleted = prune_locked(config, keep, plan=plan)
    return (deleted, plan[1]) if explain else deleted


def delete_backup(config, backup_id):
    """Delete one backup (good or damaged), and forget its verification."""
    path = backup_path(config, backup_id)
    with backup_lock(config, "delete"):
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
        verification.forget_result(config, path.name[: -len(SUFFIX)])
    note = catalog.read_current_note(config)
    if note and note["backup_id"] == path.name[: -len(SUFFIX)]:
        (backups_dir(config) / catalog.CURRENT_NOTE).unlink(missing_ok=True)
    log.info("backup %s deleted", path.name)
