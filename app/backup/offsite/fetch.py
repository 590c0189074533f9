"""Reading off-site copies back: list them, fetch one, and check them without downloading all.

``fetch_backup`` downloads a copy (decrypting it with BACKUP_AGE_IDENTITY_FILE
when it is encrypted) into a temporary file in the backups folder, checks the
SHA-256 of the downloaded bytes against the copy's description, verifies the
whole archive (structure, every member's checksum, the manifest), fsyncs it,
and only then renames it to its final name: a fetch either places a verified
backup or leaves nothing.

``verify_remote`` checks every copy with one HEAD request each: the object
exists, and its size and the SHA-256 checksum the store recorded when it
checked the upload match what was recorded here (or in the copy's description
when this host has no record). It then reads one copy in full (streamed,
never written to disk), the one checked least recently, and compares its
SHA-256: every copy is read back in turn, one per night, rather than all of
them every night.
"""

import hashlib
import os
import secrets

from app.archive import fsync_dir, verify_archive
from app.backup import catalog, verification
from app.backup.errors import BackupError, BackupNotFound, DamagedBackup
from app.backup.offsite import upload as offsite
from app.backup.offsite.upload import (
    HashingReader,
    OffsiteError,
    read_record,
    remote_copies,
    remote_store,
)
from app.coordination import backup_lock
from app.models import format_utc, utcnow
from app.storage import (
    EncryptionError,
    StorageError,
    decrypt_stream,
    load_identities,
    same_checksum,
)

CHUNK = 1024 * 1024


def find_copy(config, backup_id, *, store=None):
    """Return the description of the remote copy of ``backup_id``, or raise BackupNotFound."""
    backup_id = catalog.normalize_id(backup_id)
    for description in remote_copies(config, store=store):
        if description["backup_id"] == backup_id:
            return description
    raise BackupNotFound(
        f"no backup {backup_id} here nor in {(store or remote_store(config)).where()} "
        "(`flask backup list --remote` shows the remote ones)"
    )


def fetch_backup(config, backup_id, *, store=None, allow_unauthenticated=False, wait=0.0):
    """Download, check and place the remote copy of ``backup_id``; return the local path.

    The archive must be authenticated by BACKUP_KEY unless ``allow_unauthenticated``.
    A running backup or restore is waited for up to ``wait`` seconds. Raises
    BackupNotFound, BackupLocked, OffsiteError, Unauthenticated, or CorruptArchive
    when damaged.
    """
    store = store or remote_store(config)
    description = find_copy(config, backup_id, store=store)
    backup_id = description["backup_id"]
    folder = catalog.backups_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / (backup_id + catalog.SUFFIX)
    identities = None
    if description.get("encrypted"):
        try:
            identities = load_identities(config.get("BACKUP_AGE_IDENTITY_FILE"))
        except EncryptionError as exc:
            raise OffsiteError(str(exc)) from None
    with backup_lock(config, "fetch", wait=wait):
        if final.exists():
            raise OffsiteError(f"backup {backup_id} is already here ({final}); nothing fetched")
        tmp = folder / f".fetch.tmp-{secrets.token_hex(4)}"
        try:
            _download(store, description, tmp, identities)
            manifest = verify_archive(tmp, key=catalog.key_for(config, allow_unauthenticated))
            catalog.check_system_manifest(manifest, final.name)
            if manifest.get("backup_id", backup_id) != backup_id:
                raise OffsiteError(
                    f"the remote copy {description['object']} holds backup "
                    f"{manifest.get('backup_id')}, not {backup_id}; nothing placed"
                )
            os.rename(tmp, final)
            fsync_dir(folder)
        finally:
            tmp.unlink(missing_ok=True)
        _record_fetched(config, backup_id, final, checked=not allow_unauthenticated)
    return final


def _record_fetched(config, backup_id, path, *, checked):
    """Record the full verification a fetch just did (authenticated), or forget an older result."""
    if not checked:
        verification.forget_result(config, backup_id)  # not vouched for: unverified
        return
    result = {
        "verified_at": format_utc(utcnow()),
        "ok": True,
        "authenticated": True,
        "error": None,
        "file": verification.file_identity(path),
    }
    verification.record_result(config, backup_id, result)


def _download(store, description, tmp, identities):
    try:
        with store.open(description["object"]) as body, open(tmp, "xb") as out:
            reader = HashingReader(body)
            if identities:
                decrypt_stream(reader, out, identities)
            else:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except (StorageError, EncryptionError) as exc:
        raise OffsiteError(f"fetch of {description['backup_id']} failed: {exc}") from exc
    if reader.size != description["size"] or reader.sha256.hexdigest() != description["sha256"]:
        raise DamagedBackup(
            f"the remote copy {description['object']} is damaged: its SHA-256 or size "
            "differs from the one recorded when it was uploaded; nothing placed"
        )


def local_or_fetch(config, backup_id, *, allow_unauthenticated=False, wait=0.0):
    """Return the path of backup ``backup_id``, fetching it first when it is only remote.

    ``wait``: as ``fetch_backup`` waits for the backup lock.
    """
    try:
        return catalog.backup_path(config, backup_id)
    except BackupNotFound:
        if not offsite.enabled(config):
            raise
    return fetch_backup(config, backup_id, allow_unauthenticated=allow_unauthenticated, wait=wait)


def verify_remote(config, *, store=None, clock=utcnow, read_one=True):
    """Check every remote copy by HEAD, and read one in full; return a list of results.

    Each result: {"id", "ok", "error", "read"} (``read``: its bytes were hashed).
    The outcome is recorded; a failure makes the status unhealthy.
    """
    store = store or remote_store(config)
    record = read_record(config)
    local = record["copies"]
    results = []
    for description in remote_copies(config, store=store):
        backup_id = description["backup_id"]
        expected = local.get(backup_id) or description
        error = None
        try:
            head = store.head(description["object"])
        except StorageError as exc:
            raise OffsiteError(str(exc)) from exc
        if head is None:
            error = f"{backup_id}: the archive object {description['object']} is missing"
        elif head.size != expected["size"]:
            error = f"{backup_id}: size {head.size}, recorded {expected['size']}"
        elif not same_checksum(expected["checksum"], head.checksum or ""):
            error = f"{backup_id}: checksum {head.checksum}, recorded {expected['checksum']}"
        results.append({"id": backup_id, "ok": error is None, "error": error, "read": False})
    if read_one:
        _read_one(store, record, results, remote_copies(config, store=store), clock)
    failures = [r["error"] for r in results if not r["ok"]]
    bad = [r["id"] for r in results if not r["ok"]]
    now = format_utc(clock(), "seconds")
    offsite.note(
        config,
        verified={"at": now, "failures": failures, "bad": bad},
        read_at=record.get("read_at", {}),
    )
    return results


def _read_one(store, record, results, copies, clock):
    """Hash the intact copy read least recently; record when."""
    read_at = record.setdefault("read_at", {})
    intact = {r["id"] for r in results if r["ok"]}
    candidates = [d for d in copies if d["backup_id"] in intact]
    if not candidates:
        return
    chosen = min(candidates, key=lambda d: (read_at.get(d["backup_id"], ""), d["backup_id"]))
    digest, size = hashlib.sha256(), 0
    try:
        with store.open(chosen["object"]) as body:
            while chunk := body.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except StorageError as exc:
        raise OffsiteError(str(exc)) from exc
    result = next(r for r in results if r["id"] == chosen["backup_id"])
    result["read"] = True
    if digest.hexdigest() != chosen["sha256"] or size != chosen["size"]:
        result.update(ok=False, error=f"{chosen['backup_id']}: its bytes do not match its SHA-256")
    read_at[chosen["backup_id"]] = format_utc(clock(), "seconds")


__all__ = ["BackupError", "fetch_backup", "find_copy", "local_or_fetch", "verify_remote"]
