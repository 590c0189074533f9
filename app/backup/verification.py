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
and retention neither counts nor deletes it, until a person deletes it. A
result also records the file's size and modification time: once the file
changes (rewritten, replaced, fetched again) its result no longer counts, and
the backup is due first, as if never verified (``standing``). With
``digest``, a verification also records the SHA-256 of the whole file, read
before the archive is verified, so that an off-site copy can prove it sends
the very bytes that passed (``app.backup.offsite.upload``).

Archives of format version 1 (made before archives were authenticated) carry
no tag; their checksums are verified and the result says "not authenticated".
A version-2 archive without a valid tag is damaged (forged, or another key's).
"""

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import time

from app.archive import read_manifest, verify_archive
from app.backup import catalog
from app.backup.errors import BackupNotFound, CorruptArchive, Unauthenticated
from app.config import archive_key
from app.models import format_utc, parse_utc, utcnow

log = logging.getLogger(__name__)

RESULTS_NAME = ".verification.json"
WEEK = dt.timedelta(days=7)
CHUNK = 1024 * 1024


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


def file_identity(path):
    """Return what changes when a file is rewritten: {"size", "mtime_ns"}."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def file_sha256(path):
    """Return the SHA-256 (hex) of the whole file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def forget_result(config, backup_id):
    """Drop the recorded result of ``backup_id`` (its file was deleted or replaced)."""
    with _results_lock(config):
        results = read_results(config)
        if results.pop(backup_id, None) is not None:
            path = results_path(config)
            tmp = path.with_name(f".verification-{os.getpid()}.new")
            tmp.write_text(json.dumps(results, indent=1, sort_keys=True))
            os.replace(tmp, path)


def check_backup(config, backup_id, *, progress=None, clock=utcnow, digest=False):
    """Verify one backup fully and record the result; return (result, manifest or None).

    Version-2 archives must carry a tag made with BACKUP_KEY; version-1 ones
    (made before authentication) are checked for integrity only. With
    ``digest``, the result also holds the file's SHA-256 (``sha256``), read
    before the archive is verified. Raises BackupNotFound; every finding about
    the archive is in the result.
    """
    path = catalog.backup_path(config, backup_id)
    backup_id = catalog.normalize_id(backup_id)
    result = {"verified_at": format_utc(clock()), "authenticated": False, "error": None}
    manifest = None
    try:
        result["file"] = file_identity(path)
        if digest:
            result["sha256"] = file_sha256(path)
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


def is_current(result, path):
    """Whether ``result`` was found on the file now at ``path`` (same size and mtime)."""
    try:
        return result.get("file") == file_identity(path)
    except OSError:
        return False


def standing(config, infos=None):
    """Return {backup id: "good" | "damaged" | "unverified"} for the kept backups.

    "good": its last full verification passed, on the file as it is now.
    "damaged": its manifest does not read, or its last verification failed.
    "unverified": never verified, or the file changed since its last (passed) verification.
    """
    results = read_results(config)
    found = {}
    for info in catalog.list_backups(config) if infos is None else infos:
        result = results.get(info.backup_id)
        if not info.ok or (result is not None and not result.get("ok")):
            found[info.backup_id] = "damaged"
        elif result is not None and is_current(result, info.path):
            found[info.backup_id] = "good"
        else:
            found[info.backup_id] = "unverified"
    return found


def verify_order(config):
    """Return the ids to verify, most due first: never verified (newest first), then oldest.

    A backup whose file changed since its last verification counts as never verified.
    """
    results = read_results(config)
    infos = catalog.list_backups(config)  # newest first
    fresh = {
        info.backup_id
        for info in infos
        if info.backup_id in results and is_current(results[info.backup_id], info.path)
    }
    ids = [info.backup_id for info in infos]
    never = [i for i in ids if i not in fresh]
    seen = sorted((i for i in ids if i in fresh), key=lambda i: results[i]["verified_at"])
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


def damaged_problems(damaged, *, intact=None, offsite_copies=()):
    """Return one health problem per entry of ``damaged`` ({backup id: error}), newest first.

    The advice names only what exists: ``intact``, the id of the newest intact
    local backup (None: there is none), and ``offsite_copies``, the ids of the
    off-site copies known to be verified-good (``app.backup.offsite.upload``).
    """
    copies = sorted(offsite_copies, reverse=True)
    problems = []
    for backup_id, error in sorted(damaged.items(), reverse=True):
        if backup_id in copies:
            remedy = (
                f"its off-site copy is verified: `flask backup delete {backup_id}`, then "
                f"`flask backup fetch {backup_id}` brings it back"
            )
        else:
            ways = []
            if intact:
                ways.append(f"the intact backup {intact}")
            if copies:
                ways.append(f"the verified off-site copy {copies[0]} (`flask backup fetch`)")
            remedy = (
                "restore from " + " or ".join(ways) + f" if needed, then `flask backup delete "
                f"{backup_id}`"
                if ways
                else "no intact backup is left, here or off-site: make one now "
                f"(`flask backup create`), then `flask backup delete {backup_id}`"
            )
        problems.append(
            {
                "code": "damaged",
                "label": "DAMAGED",
                "message": f"backup {backup_id} failed verification ({error}); it is not "
                f"counted as a backup: {remedy} (see docs/backups.md)",
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
