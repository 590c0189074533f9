"""Keeping the backups folder in shape: retention and deletion.

Retention deletes a backup only when what it keeps is known to be good. Each
kept backup stands as "good" (its last full verification passed, on the file
as it is now), "damaged" (its manifest does not read, or its last verification
failed) or "unverified" (never verified, or changed since); see
``app.backup.verification.standing``.

Before deciding, retention verifies the backups it would keep and count that
were never verified, newest first, within the verification budget
(``BACKUP_VERIFY_BUDGET``): a damaged one found so stops counting, and the
next older one is looked at. Then the rules (``app.backup.tiers``: the newest
``keep``, and BACKUP_KEEP_DAILY ... _YEARLY's tiers) decide which *good*
backups stay; an unverified backup stays when the rules would keep it, beside
the good ones, were it good. Everything else goes, unless fewer than ``keep``
good backups exist: then nothing does. With the tiers off that is the newest
``keep`` good backups and everything newer than the oldest of them. So it never
deletes anything while fewer than ``keep`` good backups would remain, the
newest good backup always stays, and a damaged one is never deleted
automatically (a person decides).
"""

import logging
import time
from dataclasses import dataclass, field

from app.archive import fsync_dir
from app.backup import catalog, tiers, verification
from app.backup.catalog import SUFFIX, backup_path, backups_dir, list_backups
from app.backup.errors import BackupNotFound
from app.coordination import backup_lock

log = logging.getLogger(__name__)


STANDINGS = ("damaged", "unverified")  # what keeps a backup that is not counted


@dataclass
class RetentionPlan:
    """What retention would do now: ``delete`` and ``kept`` (id, why), newest first.

    ``kept_by`` names, for every backup, what keeps it: the rules of ``policy``
    (``app.backup.tiers``), or ``["damaged"]`` or ``["unverified"]``
    (``STANDINGS``); ``[]`` for one that goes.
    """

    policy: tiers.Policy
    delete: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)
    kept_by: dict[str, list[str]] = field(default_factory=dict)

    def rules_of(self, backup_id):
        """Return the rules that keep ``backup_id`` ([] when it goes or is not counted)."""
        kept_by = self.kept_by.get(backup_id, [])
        return [] if kept_by[:1] and kept_by[0] in STANDINGS else kept_by


def retention_plan(config, keep, *, infos=None):
    """Return the RetentionPlan of keeping the newest ``keep`` and BACKUP_KEEP_*'s tiers.

    Reads the recorded verifications; verifies nothing (``verify_for_retention`` does).
    """
    plan = RetentionPlan(tiers.policy_from_config(config, keep))
    results = verification.read_results(config)
    infos = list_backups(config) if infos is None else infos
    standing = verification.standing(config, infos)
    good = [(i.backup_id, catalog.id_time(i.backup_id)) for i in infos]
    good = [pair for pair in good if standing[pair[0]] == "good"]
    rules = tiers.kept_by(good, plan.policy)
    enough = len(good) >= plan.policy.last
    for info in infos:
        backup_id, stand = info.backup_id, standing[info.backup_id]
        if stand == "damaged":
            error = info.error or results.get(backup_id, {}).get("error")
            why = f"damaged, not counted; check and delete it ({error})"
            _keep(plan, backup_id, ["damaged"], why)
        elif backup_id in rules:
            why = tiers_why(rules[backup_id], plan.policy, backup_id)
            _keep(plan, backup_id, rules[backup_id], why)
        elif enough and (stand == "good" or not _kept_if_good(backup_id, good, plan.policy)):
            plan.delete.append(backup_id)
            plan.kept_by[backup_id] = []
        else:
            _keep(plan, backup_id, ["unverified"], "not verified yet; it counts once it passes")
    return plan


def _kept_if_good(backup_id, good, policy):
    """Whether the rules would keep ``backup_id`` beside the ``good`` ones, were it good."""
    return backup_id in tiers.kept_by([*good, (backup_id, catalog.id_time(backup_id))], policy)


PERIOD_WORDS = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}


def tiers_why(rules, policy, backup_id):
    """Say in words why ``rules`` keep the good backup ``backup_id`` under ``policy``."""
    when, parts = catalog.id_time(backup_id), []
    for rule in rules:
        base = rule.removesuffix(tiers.OLDEST)
        if rule == "last":
            parts.append(f"one of the newest {policy.last} verified backups")
        elif base != rule:
            count, words = policy.counts()[base], PERIOD_WORDS[base] + "s"
            parts.append(f"the oldest verified backup ({base} keeps {count}, found fewer {words})")
        else:
            period = tiers.period(rule, when, policy.zone)
            parts.append(f"the newest verified backup of {PERIOD_WORDS[rule]} {period}")
    return "; ".join(parts)


def _keep(plan, backup_id, kept_by, why):
    """Note in ``plan`` that ``backup_id`` stays, kept by ``kept_by`` (rules, or a standing)."""
    plan.kept.append((backup_id, why))
    plan.kept_by[backup_id] = list(kept_by)


def verify_for_retention(config, keep, *, infos=None, budget=None, monotonic=time.monotonic):
    """Verify the never-verified backups retention would keep and count; return their results.

    Only when the rules would not keep every backup that is not damaged (else
    nothing could be deleted). Newest first, until those the rules would keep
    of the not damaged ones are all verified, or ``budget`` seconds (default
    BACKUP_VERIFY_BUDGET) are spent after at least one. ``infos``: the backups
    as listed under the lock (default: list them now).
    """
    policy = tiers.policy_from_config(config, keep)
    budget = config.get("BACKUP_VERIFY_BUDGET", 3600) if budget is None else budget
    started, done = monotonic(), {}
    infos = list_backups(config) if infos is None else infos
    while True:
        standing = verification.standing(config, infos)
        alive = [i.backup_id for i in infos if standing[i.backup_id] != "damaged"]
        wanted = tiers.kept_by([(i, catalog.id_time(i)) for i in alive], policy)
        if len(wanted) == len(alive):
            return done
        due = [i for i in alive if i in wanted and standing[i] == "unverified" and i not in done]
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
        infos = list_backups(config)
        verify_for_retention(config, keep, infos=infos, budget=budget, monotonic=monotonic)
        plan = retention_plan(config, keep, infos=infos)
    deleted = []
    for backup_id in plan.delete:
        (backups_dir(config) / (backup_id + SUFFIX)).unlink(missing_ok=True)
        deleted.append(backup_id)
    if deleted:
        fsync_dir(backups_dir(config))
        log.info("retention (keep %d) deleted %s", max(1, int(keep)), ", ".join(deleted))
    return deleted


def prune_backups(config, *, keep=None, explain=False, budget=None, monotonic=time.monotonic):
    """Apply retention now: keep the newest ``keep`` (default BACKUP_KEEP) verified backups.

    And what BACKUP_KEEP_DAILY ... _YEARLY keep besides (``app.backup.tiers``).
    Verifies first what it would keep (within ``budget``, default
    BACKUP_VERIFY_BUDGET). Damaged archives are neither counted nor deleted
    (they are listed as damaged so a person decides). Returns the deleted ids,
    or with ``explain`` (deleted ids, the RetentionPlan followed).
    """
    keep = config.get("BACKUP_KEEP", 10) if keep is None else keep
    with backup_lock(config, "prune"):
        infos = list_backups(config)
        verify_for_retention(config, keep, infos=infos, budget=budget, monotonic=monotonic)
        plan = retention_plan(config, keep, infos=infos)
        deleted = prune_locked(config, keep, plan=plan)
    return (deleted, plan) if explain else deleted


def preview_retention(config, *, keep=None, infos=None):
    """Return the RetentionPlan retention would follow now, changing nothing.

    Takes no lock and verifies nothing: the unverified backups stand as such
    (``prune`` verifies them first, and may then keep or delete otherwise).
    """
    keep = config.get("BACKUP_KEEP", 10) if keep is None else keep
    return retention_plan(config, keep, infos=infos)


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
