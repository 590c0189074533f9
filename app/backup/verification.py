"""Re-verifying kept backups: every checksum and the tag, on a schedule, with results kept.

A backup written yesterday can rot on disk today, or be replaced by someone
who can write to the folder. ``verify_due`` (the beat task ``verify_backups``)
fully verifies kept backups, never-verified ones first (newest first), then
those verified longest ago, until its time budget is spent: with a daily run
whose budget covers a seventh of them, each is verified at least weekly.
``flask backup verify`` records its result the same way.

Results live in ``<backups>/.verification.json`` beside the archives, so
``list``, ``status``, ``/healthz`` and retention read them with the database
down. A backup whose last verification failed is DAMAGED: status is unhealthy
and retention neither counts nor deletes it, until a person deletes it.

Archives of format version 1 (made before archives were authenticated) carry
no tag; their checksums are verified and the result says "not authenticated".
A version-2 archive without a valid tag is damaged (forged, or another key's).
"""

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import time

from app.archive import read_manifest, verify_archive
from app.backup import catalog
from app.backup.errors import BackupNotFound, CorruptArchive, Unauthenticated
from app.config import archive_key
from app.models.types import format_utc, parse_utc, utcnow

log = logging.getLogger(__name__)

RESULTS_NAME = ".verification.json"
WEEK = dt.timedelta(days=7)


def results_path(config):
    """Return the file of verification results, beside the backups."""
    return catalog.backups_dir(config) / RESULTS_NAME


def read_results(config):
    """Return {backup id: {"verified_at", "ok", "authenticated", "error"}} (empty if none)."""
    try:
        data = json.loads(results_path(config).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _results_lock(config):
    folder = catalog.backups_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".verification.lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def record_result(config, backup_id, result):
    """Store ``result`` as the last verification of ``backup_id``; forget deleted backups."""
    with _results_lock(config):
        results = read_results(config)
        results[backup_id] = result
        present = {p.name[: -len(catalog.SUFFIX)] for p in catalog.backups_dir(config).glob("*")}
        results = {key: value for key, value in results.items() if key in present}
        path = results_path(config)
        tmp = path.with_name(f".verification-{os.getpid()}.new")  # not a crash-leftover name
        tmp.write_text(json.dumps(results, indent=1, sort_keys=True))
        os.replace(tmp, path)


def check_backup(config, backup_id, *, progress=None, clock=utcnow):
    """Verify one backup fully and record the result; return (result, manifest or None).

    Version-2 archives must carry a tag made with BACKUP_KEY; version-1 ones
    (made before authentication) are checked for integrity only.
    Raises BackupNotFound; every finding about the archive is in the result.
    """
    path = catalog.backup_path(config, backup_id)
    backup_id = catalog.normalize_id(backup_id)
    result = {"verified_at": format_utc(clock()), "authenticated": False, "error": None}
    manifest = None
    try:
        legacy = read_manifest(path).get("format_version", 1) < 2
        key = None if legacy else archive_key(config)
        manifest = verify_archive(path, key=key, progress=catalog.phase(progress, "verify"))
        catalog.check_system_manifest(manifest, path.name)
        result.update(ok=True, authenticated=not legacy)
    except FileNotFoundError:
        raise BackupNotFound(f"backup {backup_id} was deleted while it was verified") from None
    except Unauthenticated as exc:
        result.update(ok=False, error=str(exc), checksums_intact=exc.intact)
    except CorruptArchive as exc:
        result.update(ok=False, error=str(exc))
    record_result(config, backup_id, result)
    if not result["ok"]:
        log.error("backup %s failed verification: %s", backup_id, result["error"])
    return result, manifest


def verify_order(config):
    """Return the ids to verify, most due first: never verified (newest first), then oldest."""
    results = read_results(config)
    ids = [info.backup_id for info in catalog.list_backups(config)]  # newest first
    never = [i for i in ids if i not in results]
    seen = sorted((i for i in ids if i in results), key=lambda i: results[i]["verified_at"])
    return never + seen


def verify_due(config, *, budget=None, clock=utcnow, monotonic=time.monotonic):
    """Verify kept backups, most due first, until ``budget`` seconds are spent; return results.

    ``budget`` defaults to BACKUP_VERIFY_BUDGET. At least one backup is
    verified per run, however long it takes.
    """
    budget = config.get("BACKUP_VERIFY_BUDGET", 3600) if budget is None else budget
    started = monotonic()
    done = {}
    for backup_id in verify_order(config):
        if done and monotonic() - started >= budget:
            break
        try:
            done[backup_id] = check_backup(config, backup_id, clock=clock)[0]
        except BackupNotFound:
            continue  # deleted meanwhile (retention or a person)
    left = len(verify_order(config)) - len(done)
    log.info("verified %d backup(s), %d left for the next run", len(done), max(left, 0))
    return done


def damaged_ids(config):
    """Return {backup id: error} of kept backups whose last verification failed."""
    results = read_results(config)
    folder = catalog.backups_dir(config)
    present = {p.name[: -len(catalog.SUFFIX)] for p in folder.glob("*" + catalog.SUFFIX)}
    return {i: r.get("error") for i, r in results.items() if i in present and not r.get("ok")}


def damaged_problems(damaged):
    """Return one health problem per entry of ``damaged`` ({backup id: error}), newest first."""
    problems = []
    for backup_id, error in sorted(damaged.items(), reverse=True):
        problems.append(
            {
                "code": "damaged",
                "label": "DAMAGED",
                "message": f"backup {backup_id} failed verification ({error}); it is not "
                "counted as a backup: restore from another one or an off-site copy if "
                f"needed, then `flask backup delete {backup_id}` (see docs/backups.md)",
                "summary": f"backup {backup_id} is damaged",
            }
        )
    return problems


def verification_overdue(results, backup_id, now):
    """Return True when ``backup_id`` was last verified more than a week before ``now``."""
    result = results.get(backup_id)
    if result is None:
        return True
    return now - parse_utc(result["verified_at"]) > WEEK
