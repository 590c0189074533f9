"""Off-site copies of system backups in an S3-compatible store (``BACKUP_STORAGE_URL``).

After every backup run that leaves a good newest backup (a new one, or an
unchanged one whose copy is still missing), ``after_backup`` uploads it,
multipart and streamed (``app.storage``), encrypted first to
``BACKUP_AGE_RECIPIENTS`` when set, then applies remote retention
(``BACKUP_REMOTE_KEEP``). Nothing local is ever deleted here.

In the bucket, under the prefix, each copy is two objects:
``<id>.tar.gz`` (or ``<id>.tar.gz.age`` when encrypted) and ``<id>.json``, a
small description (size, SHA-256 of the stored bytes, the store's checksum,
whether encrypted) written only after the archive's upload was complete and
its checksum confirmed: a copy without its description is not counted.

Locally, ``backups/system/.offsite.json`` records each uploaded copy and the
last attempt; a failed last attempt makes the backups unhealthy (``OFFSITE``).
"""

import json
import logging
import os

from app.backup import catalog
from app.backup.errors import BackupError
from app.models.types import format_utc, utcnow
from app.storage import ObjectStore, StorageError
from app.storage.age import EncryptionError, encrypt_stream, parse_recipients

log = logging.getLogger(__name__)

RECORD_NAME = ".offsite.json"
DESCRIPTION_SUFFIX = ".json"
ENCRYPTED_SUFFIX = ".age"


class OffsiteError(BackupError):
    """An off-site copy could not be made, found, fetched or checked; the message says why."""


def enabled(config):
    """Whether off-site copies are configured."""
    return bool(config.get("BACKUP_STORAGE_URL"))


def remote_store(config):
    """Return the ObjectStore of BACKUP_STORAGE_URL, or raise OffsiteError when unset."""
    if not enabled(config):
        raise OffsiteError(
            "no off-site storage configured: set BACKUP_STORAGE_URL=s3://bucket/prefix"
        )
    try:
        return ObjectStore.from_config(config, "BACKUP_STORAGE")
    except StorageError as exc:
        raise OffsiteError(f"BACKUP_STORAGE_URL: {exc}") from None


def object_name(backup_id, encrypted):
    """Return the name of the archive object of ``backup_id``."""
    return backup_id + catalog.SUFFIX + (ENCRYPTED_SUFFIX if encrypted else "")


def description_name(backup_id):
    """Return the name of the description object of ``backup_id``."""
    return backup_id + DESCRIPTION_SUFFIX


def _time(moment):
    return format_utc(moment, timespec="seconds")


# --- the local record -----------------------------------------------------------


def record_path(config):
    """Return the path of the local record of off-site copies."""
    return catalog.backups_dir(config) / RECORD_NAME


def read_record(config):
    """Return the local record: {"copies": {id: description}, "last": attempt or None, ...}."""
    try:
        record = json.loads(record_path(config).read_text())
        if isinstance(record, dict):
            record.setdefault("copies", {})
            record.setdefault("last", None)
            return record
    except (OSError, ValueError):
        pass
    return {"copies": {}, "last": None}


def write_record(config, record):
    """Replace the local record atomically."""
    path = record_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, sort_keys=True, indent=1))
    os.replace(tmp, path)


def _note(config, **changes):
    record = read_record(config)
    for key, value in changes.items():
        if key == "copy":
            record["copies"][value["backup_id"]] = value
        elif key == "forget":
            for backup_id in value:
                record["copies"].pop(backup_id, None)
        else:
            record[key] = value
    try:
        write_record(config, record)
    except OSError as exc:
        log.error("could not write %s: %s", record_path(config), exc)
    return record


# --- uploading ------------------------------------------------------------------


def upload_backup(config, backup_id, *, store=None, clock=utcnow, on_part=None):
    """Copy backup ``backup_id`` to the store (encrypted when configured); return its description.

    Raises OffsiteError; a failed upload leaves no object under the final name.
    """
    store = store or remote_store(config)
    path = catalog.backup_path(config, backup_id)
    info = catalog.read_info(path)
    if not info.ok:
        raise OffsiteError(f"backup {backup_id} is damaged, not copying it: {info.error}")
    recipients = config.get("BACKUP_AGE_RECIPIENTS")
    try:
        recipients = parse_recipients(recipients) if recipients else None
    except EncryptionError as exc:
        raise OffsiteError(f"BACKUP_AGE_RECIPIENTS: {exc}") from None
    name = object_name(info.backup_id, bool(recipients))
    with open(path, "rb") as source:
        writer = None
        try:
            with store.writer(name, metadata={"backup-id": info.backup_id}, on_part=on_part) as w:
                writer = w
                if recipients:
                    encrypt_stream(source, w, recipients)
                else:
                    while chunk := source.read(1024 * 1024):
                        w.write(chunk)
        except Exception as exc:
            # pyrage may stand between the writer's StorageError and us: name the first cause.
            cause = writer.error if writer is not None and writer.error else exc
            if not isinstance(cause, StorageError | EncryptionError | OSError):
                raise
            raise OffsiteError(f"upload of {info.backup_id} failed: {cause}") from exc
    description = {
        "backup_id": info.backup_id,
        "object": name,
        "size": writer.size,
        "sha256": writer.sha256,
        "checksum": writer.checksum,
        "parts": writer.parts,
        "encrypted": bool(recipients),
        "archive_size": info.size,
        "created_at": format_utc(info.created_at),
        "uploaded_at": _time(clock()),
    }
    try:
        store.put_bytes(
            description_name(info.backup_id),
            json.dumps(description, sort_keys=True).encode(),
            content_type="application/json",
        )
    except StorageError as exc:
        raise OffsiteError(f"upload of {info.backup_id} failed: {exc}") from exc
    _note(config, copy=description)
    return description


def remote_copies(config, *, store=None):
    """Return the descriptions of the complete remote copies, newest first."""
    store = store or remote_store(config)
    try:
        objects = store.list("stinkykitty-")
    except StorageError as exc:
        raise OffsiteError(str(exc)) from exc
    copies = []
    for obj in objects:
        backup_id = obj.name[: -len(DESCRIPTION_SUFFIX)]
        if not obj.name.endswith(DESCRIPTION_SUFFIX) or not catalog.ID_PATTERN.match(backup_id):
            continue
        try:
            with store.open(obj.name) as body:
                description = json.loads(body.read(1024 * 1024))
        except (StorageError, ValueError) as exc:
            log.warning("unreadable description %s: %s", store.where(obj.name), exc)
            continue
        if description.get("backup_id") == backup_id:
            copies.append(description)
    return sorted(copies, key=lambda d: d["backup_id"], reverse=True)


def prune_remote(config, keep=None, *, store=None):
    """Delete remote copies beyond the newest ``keep`` (BACKUP_REMOTE_KEEP); return their ids.

    Never deletes the newest copy. Call only after a successful upload.
    """
    store = store or remote_store(config)
    keep = max(1, int(keep if keep is not None else config.get("BACKUP_REMOTE_KEEP", 30)))
    copies = remote_copies(config, store=store)
    deleted = []
    for description in copies[keep:]:
        try:
            store.delete(description["object"])
            store.delete(description_name(description["backup_id"]))
        except StorageError as exc:
            log.warning("remote retention: %s", exc)
            continue
        deleted.append(description["backup_id"])
    if deleted:
        _note(config, forget=deleted)
        log.info("remote retention deleted %s", ", ".join(deleted))
    return deleted


def after_backup(config, *, clock=utcnow, on_part=None):
    """Make sure the newest good backup has a remote copy, then apply remote retention.

    Returns the fields for the run record: ``offsite`` ("ok" or "failed"),
    ``offsite_error`` and ``remote_pruned``; {} when no storage is configured.
    Never raises: a failed copy is recorded (and makes the status unhealthy).
    """
    if not enabled(config):
        return {}
    newest = catalog.newest_good(config)
    if newest is None:
        return {}
    try:
        store = remote_store(config)
        uploaded = read_record(config)["copies"].get(newest.backup_id)
        if uploaded is None or store.head(uploaded["object"]) is None:
            uploaded = upload_backup(
                config, newest.backup_id, store=store, clock=clock, on_part=on_part
            )
            log.info("backup %s copied to %s", newest.backup_id, store.where(uploaded["object"]))
        pruned = prune_remote(config, store=store)
    except Exception as exc:  # whatever stops the copy (even a time limit) is recorded
        message = f"off-site copy of {newest.backup_id} failed: {exc}"
        expected = isinstance(exc, BackupError | StorageError)
        log.error("%s; the local backup is kept", message, exc_info=not expected)
        _note(config, last={"ok": False, "backup_id": newest.backup_id, "at": _time(clock()),
                            "error": message})  # fmt: skip
        return {"offsite": "failed", "offsite_error": message, "remote_pruned": []}
    _note(config, last={"ok": True, "backup_id": newest.backup_id, "at": _time(clock()),
                        "error": None})  # fmt: skip
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
