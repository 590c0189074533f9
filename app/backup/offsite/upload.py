"""Off-site copies of system backups in an S3-compatible store (``BACKUP_STORAGE_URL``).

Off-site never gets worse. After every backup run, ``after_backup`` makes sure
the newest intact backup has a remote copy: only a backup whose last full
verification passed is sent (one never verified is verified first), and the
bytes sent must be the very bytes that passed (the verification records the
file's SHA-256 and the upload compares it before completing). A backup that
fails is DAMAGED and the next older intact one is copied instead. The upload
is multipart and streamed (``app.storage``), encrypted first to
``BACKUP_AGE_RECIPIENTS`` when set. Then remote retention
(``app.backup.offsite.keep``) deletes only copies beyond
``BACKUP_REMOTE_KEEP`` verified-good ones, and every run ends by aborting the
unfinished multipart uploads under the prefix. No local backup is ever
deleted here (only the site index of a pruned copy whose archive is gone).

The store, its names and the local record are in ``app.backup.offsite.store``
(re-exported here); a failed last attempt makes the backups unhealthy
(``OFFSITE``).
"""

import json
import logging

from app.backup import catalog, verification
from app.backup.errors import ArchiveError, BackupError
from app.backup.offsite.keep import abort_leftovers, good_copies, prune_remote
from app.backup.offsite.store import (
    HashingReader,
    OffsiteBusy,
    OffsiteError,
    description_name,
    enabled,
    known_good_copies,
    note,
    object_name,
    offsite_lock,
    read_record,
    record_path,
    remote_copies,
    remote_store,
    stamp,
    write_record,
)
from app.errors import DAMAGED, StinkyKittyError
from app.models import format_utc, utcnow
from app.storage import EncryptionError, StorageError, encrypt_stream, parse_recipients

log = logging.getLogger(__name__)

_note = note  # the name callers used before the record moved to offsite_store


class NotIntact(OffsiteError):
    """The backup asked for is damaged (its manifest, or its last full verification)."""

    exit_code = DAMAGED


class _Changed(StinkyKittyError):
    """The bytes read for the upload are not the bytes that passed verification."""


# --- uploading ------------------------------------------------------------------


def _verified(config, info, clock, *, again=False):
    """Return the passed verification of ``info`` with the file's SHA-256; verify when needed.

    Raises NotIntact when its last verification failed, or fails now.
    """
    result = verification.read_results(config).get(info.backup_id)
    if result is not None and not result.get("ok"):
        raise NotIntact(
            f"backup {info.backup_id} failed its last verification ({result.get('error')}); "
            "not copying it"
        )
    stale = result is None or "sha256" not in result
    if again or stale or not verification.is_current(result, info.path):
        result, _ = verification.check_backup(config, info.backup_id, clock=clock, digest=True)
        if not result["ok"]:
            raise NotIntact(
                f"backup {info.backup_id} failed verification before its copy "
                f"({result['error']}); not copying it"
            )
    return result


def upload_backup(config, backup_id, *, store=None, clock=utcnow, on_part=None):
    """Copy backup ``backup_id`` to the store (encrypted when configured); return its description.

    Only the bytes that passed a full verification are kept in the store.
    Raises NotIntact when the backup is damaged, OffsiteError otherwise; a
    failed upload leaves no object under the final name.
    """
    store = store or remote_store(config)
    path = catalog.backup_path(config, backup_id)
    info = catalog.read_info(path)
    if not info.ok:
        raise NotIntact(f"backup {backup_id} is damaged, not copying it: {info.error}")
    recipients = config.get("BACKUP_AGE_RECIPIENTS")
    try:
        recipients = parse_recipients(recipients) if recipients else None
    except EncryptionError as exc:
        raise OffsiteError(f"BACKUP_AGE_RECIPIENTS: {exc}") from None
    result = _verified(config, info, clock)
    try:
        writer = _send(store, info, result, recipients, on_part)
    except _Changed:  # rewritten or rotten since its verification: verify it again, once
        result = _verified(config, info, clock, again=True)
        try:
            writer = _send(store, info, result, recipients, on_part)
        except _Changed:
            raise OffsiteError(
                f"backup {info.backup_id} changes while it is copied; nothing was kept"
            ) from None
    description = {
        "backup_id": info.backup_id,
        "object": object_name(info.backup_id, bool(recipients)),
        "size": writer.size,
        "sha256": writer.sha256,
        "checksum": writer.checksum,
        "parts": writer.parts,
        "encrypted": bool(recipients),
        "archive_size": info.size,
        "archive_sha256": result["sha256"],
        "verified_at": result["verified_at"],
        "authenticated": result.get("authenticated", False),
        "created_at": format_utc(info.created_at),
        "uploaded_at": stamp(clock()),
    }
    try:
        store.put_bytes(
            description_name(info.backup_id),
            json.dumps(description, sort_keys=True).encode(),
            content_type="application/json",
        )
    except StorageError as exc:
        raise OffsiteError(f"upload of {info.backup_id} failed: {exc}") from exc
    note(config, copy=description)
    return description


def _send(store, info, result, recipients, on_part):
    """Upload the archive; complete it only if what was read is what passed verification."""
    name = object_name(info.backup_id, bool(recipients))
    with open(info.path, "rb") as raw:
        source = HashingReader(raw)
        writer = None
        try:
            with store.writer(name, metadata={"backup-id": info.backup_id}, on_part=on_part) as w:
                writer = w
                if recipients:
                    encrypt_stream(source, w, recipients)
                else:
                    while chunk := source.read(1024 * 1024):
                        w.write(chunk)
                if source.sha256.hexdigest() != result["sha256"]:
                    raise _Changed()  # leaving the block aborts the upload: nothing kept
        except _Changed:
            log.warning("backup %s changed since it was verified", info.backup_id)
            raise
        except Exception as exc:
            # pyrage may stand between the writer's StorageError and us: name the first cause.
            cause = writer.error if writer is not None and writer.error else exc
            if not isinstance(cause, StorageError | EncryptionError | OSError):
                raise
            raise OffsiteError(f"upload of {info.backup_id} failed: {cause}") from exc
    return writer


def upload_now(config, backup_id, *, store=None, clock=utcnow, on_part=None):
    """Copy backup ``backup_id`` now, then apply remote retention; return its description.

    Holds the off-site lock (OffsiteBusy when another run holds it) and ends,
    whatever happened, by aborting unfinished uploads.
    """
    store = store or remote_store(config)
    with offsite_lock(config):
        try:
            description = upload_backup(
                config, backup_id, store=store, clock=clock, on_part=on_part
            )
            prune_remote(config, store=store)
        finally:
            abort_leftovers(store)
    return description


def _copy_newest(config, store, clock, on_part, working):
    """Make sure the newest intact backup has a verified copy; return (its id, uploaded).

    ``working`` (a list) gets the id being worked on, for the error message.
    """
    standing = verification.standing(config)
    copies = read_record(config)["copies"]
    for info in catalog.list_backups(config):  # newest first
        if standing.get(info.backup_id) == "damaged":
            continue
        working[:] = [info.backup_id]
        known = copies.get(info.backup_id)
        if known and good_copies(config, [known], store=store):
            return info.backup_id, False  # its verified copy is there, as uploaded
        try:
            description = upload_backup(
                config, info.backup_id, store=store, clock=clock, on_part=on_part
            )
        except NotIntact as exc:
            log.error("%s; trying the next older backup", exc)
            continue
        log.info("backup %s copied to %s", info.backup_id, store.where(description["object"]))
        return info.backup_id, True
    return None, False


def after_backup(config, *, clock=utcnow, on_part=None, store=None):
    """Make sure the newest intact backup has a verified remote copy, then apply remote retention.

    Returns the fields for the run record: ``offsite`` ("ok", "failed", or
    "skipped" while another off-site run works), ``offsite_error`` and
    ``remote_pruned``; {} when no storage is configured or no intact backup
    exists. Never raises: a failed copy is recorded (and makes the status
    unhealthy). Every run ends by aborting unfinished uploads under the prefix.
    """
    if not enabled(config):
        return {}
    try:
        with offsite_lock(config):
            return _after_backup_locked(config, clock, on_part, store)
    except OffsiteBusy as exc:
        log.warning("off-site copy skipped: %s", exc)
        return {"offsite": "skipped", "offsite_error": str(exc), "remote_pruned": []}


def _after_backup_locked(config, clock, on_part, store):
    chosen, working = None, []
    try:
        store = store or remote_store(config)
        try:
            chosen, _uploaded = _copy_newest(config, store, clock, on_part, working)
            if chosen is None:
                return {}
            pruned = prune_remote(config, store=store)
        finally:
            abort_leftovers(store)
    except Exception as exc:  # whatever stops the copy (even a time limit) is recorded
        chosen = chosen or next(iter(working), None)
        what = chosen or "the newest intact backup"
        message = f"off-site copy of {what} failed: {exc}"
        expected = isinstance(exc, BackupError | ArchiveError | StorageError)
        log.error("%s; the local backup is kept", message, exc_info=not expected)
        failed = {"ok": False, "backup_id": chosen, "at": stamp(clock()), "error": message}
        note(config, last=failed)
        return {"offsite": "failed", "offsite_error": message, "remote_pruned": []}
    note(config, last={"ok": True, "backup_id": chosen, "at": stamp(clock()), "error": None})
    return {"offsite": "ok", "offsite_error": None, "remote_pruned": pruned}


def offsite_problem(config):
    """Return the off-site problem (code, label, message, summary as a dict), or None.

    A failed last copy comes first; then a remote copy that failed its check.
    """
    if not enabled(config):
        return None
    record = read_record(config)
    last = record.get("last")
    if last and not last.get("ok"):
        return {
            "code": "offsite-failed",
            "label": "OFFSITE",
            "message": f"{last.get('error')} (at {last.get('at')}); the local backups are "
            "kept. Check BACKUP_STORAGE_URL, the endpoint and the credentials, then run "
            "`flask backup upload` or wait for the next run, which retries",
            "summary": "the last off-site copy failed",
        }
    checked = record.get("verified")
    if checked and checked.get("failures"):
        return {
            "code": "offsite-damaged",
            "label": "OFFSITE",
            "message": f"remote copies failed their check at {checked.get('at')}: "
            + "; ".join(checked["failures"]),
            "summary": "a remote copy failed its check",
        }
    return None


__all__ = [  # the off-site capability's public face (the record and store live below it)
    "HashingReader",
    "NotIntact",
    "OffsiteBusy",
    "OffsiteError",
    "after_backup",
    "description_name",
    "enabled",
    "known_good_copies",
    "object_name",
    "offsite_problem",
    "prune_remote",
    "read_record",
    "record_path",
    "remote_copies",
    "remote_store",
    "upload_backup",
    "upload_now",
    "write_record",
]
