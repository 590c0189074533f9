"""Where off-site copies live: the store, the names in it, and the local record of them.

In the bucket, under the prefix, each copy is two objects:
``<id>.tar.gz`` (or ``<id>.tar.gz.age`` when encrypted) and ``<id>.json``, a
small description (size, SHA-256 of the stored bytes, the store's checksum,
whether encrypted, and the verification the local archive passed before it
was sent) written only after the archive's upload was complete and its
checksum confirmed: a copy without its description is not counted.

Locally, ``backups/system/.offsite.json`` records each uploaded copy, the last
attempt and the last check of the copies; ``.offsite.lock`` lets one off-site
run at a time work on this data dir (so a run may abort every unfinished
upload it finds under the prefix: none of them is still being sent).
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import os

from app.backup import catalog
from app.backup.errors import BackupError
from app.errors import BUSY
from app.models import format_utc
from app.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)

RECORD_NAME = ".offsite.json"
LOCK_NAME = ".offsite.lock"
DESCRIPTION_SUFFIX = ".json"
ENCRYPTED_SUFFIX = ".age"
NAME_START = "stinkykitty-"  # every object of ours starts so (listing prefix)


class OffsiteError(BackupError):
    """An off-site copy could not be made, found, fetched or checked; the message says why."""


class OffsiteBusy(OffsiteError):
    """Another off-site run works on this data dir now."""

    exit_code = BUSY


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


def stamp(moment):
    """Return ``moment`` as the record writes it."""
    return format_utc(moment, timespec="seconds")


class HashingReader:
    """Read from ``body`` while hashing (SHA-256) and counting what passes."""

    CHUNK = 1024 * 1024

    def __init__(self, body):
        self.body, self.sha256, self.size = body, hashlib.sha256(), 0

    def read(self, n=-1):
        data = self.body.read(self.CHUNK if n is None or n < 0 else n)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self):
        return True


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


def note(config, **changes):
    """Change the local record: ``copy`` adds one, ``forget`` drops ids, others replace keys."""
    record = read_record(config)
    for key, value in changes.items():
        if key == "copy":  # a new upload replaces whatever the last check found
            record["copies"][value["backup_id"]] = value
            bad = (record.get("verified") or {}).get("bad") or []
            if value["backup_id"] in bad:
                bad.remove(value["backup_id"])
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


def known_good_copies(config):
    """Return the ids of the off-site copies this host knows to be verified-good, newest first.

    Read from the local record alone (no request): copies uploaded after the
    local archive passed its verification, not deleted since, and not failed by
    the last check of the copies (``flask backup verify-remote``).
    """
    record = read_record(config)
    bad = set((record.get("verified") or {}).get("bad", []))
    return sorted(
        (
            backup_id
            for backup_id, copy in record["copies"].items()
            if copy.get("verified_at") and copy.get("archive_sha256") and backup_id not in bad
        ),
        reverse=True,
    )


@contextlib.contextmanager
def offsite_lock(config):
    """Hold the off-site lock of this data dir, or raise OffsiteBusy at once."""
    folder = catalog.backups_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OffsiteBusy(
                "another off-site copy is being made from this data dir; it uploads and "
                "applies remote retention itself"
            ) from None
        yield
    finally:
        os.close(fd)


# --- reading the store ------------------------------------------------------------


def remote_copies(config, *, store=None):
    """Return the descriptions of the complete remote copies, newest first."""
    store = store or remote_store(config)
    try:
        objects = store.list(NAME_START)
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
        if isinstance(description, dict) and description.get("backup_id") == backup_id:
            copies.append(description)
    return sorted(copies, key=lambda d: d["backup_id"], reverse=True)
