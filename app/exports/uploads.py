"""What an upload to "Restore from an export file" may cost, and the uploads that wait.

An owner's upload is untrusted input, and an owner may send many. Each is
bounded before it is kept (``app.exports.restorejobs.receive_upload``):

- its size: at most ``SITE_IMPORT_MAX_BYTES``, refused at once when the request
  declares more and as soon as the stream passes it;
- the disk: refused before a byte is written when the free space would fall
  under the backups' reserve (the room the next system backup needs: as much
  as the largest one kept), and stopped as soon as the next chunk would;
- its content: read whole and checked before the preview: structure, every
  member's SHA-256, and the authentication tag when the archive claims this
  server's key (an export of another server carries another key's tag);
- the count: one upload per site is received at a time (a second one meanwhile
  is refused), and at most ``SITE_IMPORT_MAX_PENDING`` (at least 1) per site wait
  for confirmation: a new one that passed every check replaces the oldest.
  One still unconfirmed after ``PENDING_TTL`` is removed by the next upload
  and by the export sweep.

A refused upload leaves nothing behind and changes nothing else.
"""

import datetime as dt
import errno
import fcntl
import os
import shutil
from contextlib import contextmanager

from app import errors as codes
from app.archive import key_id, read_manifest, space
from app.config import archive_key, data_path
from app.exports.errors import ExportError
from app.models import parse_utc

PENDING_TTL = 3600  # seconds an upload waits for its confirmation
CLAIMED = "confirmed"  # the marker whose creation (O_EXCL) confirms a job: one claim wins
RECORD = "job.json"
BACKUPS_GLOB = "stinkykitty-*.tar.gz"  # system backups, in backups/system/
CHUNK = 1024 * 1024
SLACK = 64 * 1024  # room kept besides the upload itself: its record and preview
NO_ROOM = "The server is short of disk space for this upload; nothing was kept. Try again later."
BUSY = "Another upload to this site is being received; wait until it is done, then try again."


class UploadRefused(ExportError):
    """The upload is too large or not an export this server imports."""

    exit_code = codes.REFUSED


class UploadTooLarge(UploadRefused):
    """The upload is larger than ``SITE_IMPORT_MAX_BYTES``."""


class UploadBusy(UploadRefused):
    """Another upload to the same site is being received."""

    exit_code = codes.BUSY


class NoRoomForUpload(UploadRefused):
    """Keeping the upload would eat into the room the backups need."""

    exit_code = codes.NO_ROOM


def too_large(config):
    """Return the refusal of an upload over ``SITE_IMPORT_MAX_BYTES``."""
    return UploadTooLarge(
        f"The file is larger than the {config['SITE_IMPORT_MAX_BYTES']:,} bytes allowed."
    )


def backup_reserve(config):
    """Return the bytes kept free for the next system backup: the size of the largest kept."""
    sizes = [0]
    for path in data_path(config, "backups", "system").glob(BACKUPS_GLOB):
        try:
            sizes.append(path.stat().st_size)
        except OSError:  # deleted meanwhile
            continue
    return max(sizes)


def check_room(config, folder, needed):
    """Raise NoRoomForUpload unless ``needed`` more bytes in ``folder`` leave the reserve free."""
    if needed + SLACK > space.free_space(folder) - backup_reserve(config):
        raise NoRoomForUpload(NO_ROOM)


@contextmanager
def receiving(root, site_id):
    """Hold the one receiving slot of site ``site_id`` (a lock file in ``root``), or refuse."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / f".upload-{int(site_id)}.lock", os.O_CREAT | os.O_RDWR, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadBusy(BUSY) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def write_upload(config, stream, path, *, declared=None):
    """Copy ``stream`` into the new file ``path`` within the size and disk bounds; return its size.

    ``declared`` is the length the request announced (None: unknown). On
    refusal the partial file stays for the caller to remove with its folder.
    """
    most = config["SITE_IMPORT_MAX_BYTES"]
    if declared is not None and declared > most:
        raise too_large(config)
    check_room(config, path.parent, declared or 0)
    written = 0
    try:
        with open(path, "xb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > most:
                    raise too_large(config)
                check_room(config, path.parent, len(chunk))
                out.write(chunk)
    except OSError as exc:
        if space.is_disk_full(exc):
            raise NoRoomForUpload(NO_ROOM) from exc
        raise
    if written == 0:
        raise UploadRefused("The upload was empty: choose an export file.")
    return written


def claimed_key(config, path):
    """Return this server's key when the upload claims to be tagged with it, else None.

    An export of another server carries another key's tag: only its checksums
    can be checked. One that claims ours must carry our valid tag.
    """
    manifest = read_manifest(path)
    key = archive_key(config)
    claimed = manifest.get("authentication")
    ours = isinstance(claimed, dict) and claimed.get("key_id") == key_id(key)
    return key if ours else None


def _unconfirmed(root, site_id, read_job):
    """Return the jobs of site ``site_id`` waiting for confirmation, oldest first."""
    jobs = []
    for folder in root.iterdir():
        if folder.name.startswith("."):
            continue
        job = read_job(folder.name)
        waiting = job and job["site_id"] == site_id and job["state"] == "uploaded"
        if waiting and not (folder / CLAIMED).exists():
            jobs.append(job)
    return sorted(jobs, key=lambda j: (j.get("received_ns") or 0, j["created_at"], j["id"]))


def discard(folder):
    """Remove an unconfirmed upload unless a confirmation claimed it first; return True if gone."""
    try:
        os.close(os.open(folder / CLAIMED, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640))
    except FileExistsError:
        return False  # confirmed meanwhile: it is a restore now, not an upload
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False  # removed meanwhile
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return True


def keep_newest(config, root, site_id, read_job):
    """Remove the oldest uploads of site ``site_id`` past ``SITE_IMPORT_MAX_PENDING``; their ids."""
    keep = max(1, config["SITE_IMPORT_MAX_PENDING"])
    pending = _unconfirmed(root, site_id, read_job)
    return [j["id"] for j in pending[: max(0, len(pending) - keep)] if discard(root / j["id"])]


def _modified(path):
    try:
        stamp = max(path.stat().st_mtime, *(p.stat().st_mtime for p in path.iterdir()))
    except OSError:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).replace(tzinfo=None)


def expire_uploads(root, read_job, *, clock):
    """Remove uploads unconfirmed for ``PENDING_TTL``, and what a killed upload left; their ids.

    A folder without its record is an upload being received, or one a crash
    cut short: it goes once nothing in it changed for as long.
    """
    if not root.is_dir():
        return []
    cutoff = clock() - dt.timedelta(seconds=PENDING_TTL)
    removed = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        job = read_job(folder.name)
        if job is None and not (folder / RECORD).exists():
            changed = _modified(folder)
            if changed is not None and changed < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        elif job and job["state"] == "uploaded" and parse_utc(job["created_at"]) < cutoff:
            removed += [folder.name] if discard(folder) else []
    return removed
