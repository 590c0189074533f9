"""System backups: make, list, verify, delete, prune and report on whole-system archives.

A system backup is one ``.tar.gz`` (see ``app.backup.archive``) holding
``manifest.json``, a logical dump of every table (``db/NNN-<table>.jsonl``, in
foreign-key order, see ``app.backup.dbdump``), every file under ``uploads/``
and ``SHA256SUMS``. The manifest records the format, creation time, app
version, database dialect and Alembic revision, per-table row counts, media
totals and a content fingerprint.

Every function takes the Flask config mapping (``app.config``); those that
touch the database take an engine; those that depend on time take ``clock``
(a function returning naive UTC), so tests can live through months of nights.
Restores are in ``app.backup.restore`` and re-exported here.
"""

import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import app as app_package
from app.backup import catalog
from app.backup.archive import Member, check_member_path, verify_archive, write_archive
from app.backup.catalog import (
    FORMAT,
    SUFFIX,
    backup_path,
    backups_dir,
    format_time,
    list_backups,
    newest_good,
)
from app.backup.dbdump import dump_database, estimate_database_size
from app.backup.errors import BackupError, NotEnoughSpace
from app.backup.lock import backup_lock, lock_holder
from app.backup.maintenance import maintenance_state
from app.backup.restore import RestoreOutcome, restore_backup
from app.backup.space import check_space, human_size
from app.config import data_path
from app.extensions import db
from app.models.types import utcnow

__all__ = [
    "BackupOutcome",
    "RestoreOutcome",
    "backup_status",
    "create_backup",
    "delete_backup",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 26 * 3600


@dataclass(frozen=True)
class BackupOutcome:
    """What ``create_backup`` did; ``created`` is False when the newest backup was still current."""

    backup_id: str
    path: Path
    created: bool
    size: int
    counts: dict[str, int]
    files: int
    duration: float
    created_at: object  # naive UTC datetime of the backup (the older one when unchanged)
    checked_at: object  # naive UTC datetime of this run
    fingerprint: str
    pruned: list[str] = field(default_factory=list)

    def to_dict(self):
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["created_at"] = format_time(self.created_at)
        data["checked_at"] = format_time(self.checked_at)
        data["duration"] = round(self.duration, 3)
        return data


@dataclass(frozen=True)
class MediaFile:
    """One file under uploads/, as found when the backup started."""

    relpath: str  # relative to uploads/, POSIX
    source: Path  # where to read it (a hard link in the media snapshot when possible)
    size: int
    mtime_ns: int


def _phase(progress, name):
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def snapshot_media(uploads, links):
    """Return the files under ``uploads``, hard-linked into ``links`` where possible.

    Hard links pin each file as it is now, so a media item deleted while the
    archive is being written is still backed up whole. Dot files (uploads still
    being written, e.g. ``.abc.part``) and anything but regular files are skipped.
    """
    files = []
    uploads = Path(uploads)
    for root, dirs, names in os.walk(uploads):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(root, name)
            relpath = path.relative_to(uploads).as_posix()
            try:
                check_member_path(relpath)
                st = path.lstat()
            except FileNotFoundError:
                continue
            except BackupError:
                log.warning("not backing up %s: its name cannot go into an archive", path)
                continue
            if not stat.S_ISREG(st.st_mode):
                log.warning("not backing up %s: not a regular file", path)
                continue
            source = links / relpath
            try:
                source.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, source)
            except FileNotFoundError:
                continue  # deleted since we listed it
            except OSError:
                source = path  # no hard links here (other filesystem): read in place
            files.append(MediaFile(relpath, source, st.st_size, st.st_mtime_ns))
    return files


def content_fingerprint(dump, media):
    """Return a SHA-256 naming the content: database rows (via dump hashes) and media.

    Media files are immutable once stored (each upload gets a new random name,
    nothing rewrites a file in place), so path, size and mtime identify their
    content without reading them again.
    """
    digest = hashlib.sha256()
    head = {
        "dialect": dump.dialect,
        "revision": dump.revision,
        "tables": [[t.table, t.rows, t.sha256] for t in dump.tables],
    }
    digest.update(json.dumps(head, sort_keys=True).encode())
    for f in sorted(media, key=lambda f: f.relpath):
        digest.update(f"{f.relpath}\0{f.size}\0{f.mtime_ns}\n".encode())
    return digest.hexdigest()


def create_backup(config, engine, *, clock=utcnow, skip_unchanged=None, progress=None):
    """Make a system backup now; return a BackupOutcome.

    When nothing changed since the newest backup and ``skip_unchanged`` (default:
    config BACKUP_SKIP_UNCHANGED) is true, write no copy: record that the newest
    is still current. Then apply retention. ``progress(phase, done, total)`` is
    called with phase "dump" (tables) and "write" (archive members).
    Raises BackupLocked, NotEnoughSpace or BackupError.
    """
    started = time.monotonic()
    if skip_unchanged is None:
        skip_unchanged = config.get("BACKUP_SKIP_UNCHANGED", True)
    folder = backups_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    with backup_lock(config, "backup", clock=clock):
        catalog.remove_leftovers(config)
        token = secrets.token_hex(4)
        work = folder / f".backup.tmp-{token}"
        links = data_path(config, f".backup-media.tmp-{token}")
        try:
            outcome = _create_locked(
                config, engine, clock, skip_unchanged, progress, started, work, links
            )
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NotEnoughSpace(
                    f"disk full while backing up into {folder}; nothing was kept, "
                    "free some space and try again"
                ) from exc
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(links, ignore_errors=True)
        catalog.write_current_note(
            config, outcome.backup_id, outcome.fingerprint, outcome.checked_at
        )
        pruned = _prune(config, config.get("BACKUP_KEEP", 10))
    outcome = replace(outcome, pruned=pruned)
    if outcome.created:
        log.info(
            "backup %s written: %s, %d rows, %d media files, in %.1f s",
            outcome.backup_id,
            human_size(outcome.size),
            sum(outcome.counts.values()),
            outcome.files,
            outcome.duration,
        )
    else:
        log.info("nothing changed since backup %s: it is still current", outcome.backup_id)
    return outcome


def _create_locked(config, engine, clock, skip_unchanged, progress, started, work, links):
    folder = backups_dir(config)
    db_bytes = estimate_database_size(engine)
    work.mkdir()
    media = []

    def on_snapshot():
        media.extend(snapshot_media(data_path(config, "uploads"), links))
        # The dump (about the database's size) and the archive (at most the
        # database again plus the media, which are stored, not deflated).
        needed = 2 * db_bytes + sum(f.size for f in media)
        check_space(needed, folder, "the backup")

    dump = dump_database(
        engine,
        work,
        db.metadata.sorted_tables,
        on_snapshot=on_snapshot,
        progress=_phase(progress, "dump"),
    )
    fingerprint = content_fingerprint(dump, media)
    counts = {t.table: t.rows for t in dump.tables}
    now = clock()

    if skip_unchanged:
        newest = newest_good(config)
        if newest is not None and newest.fingerprint == fingerprint:
            return BackupOutcome(
                backup_id=newest.backup_id,
                path=newest.path,
                created=False,
                size=newest.size,
                counts=counts,
                files=len(media),
                duration=time.monotonic() - started,
                created_at=newest.created_at,
                checked_at=now,
                fingerprint=fingerprint,
            )

    backup_id = catalog.new_backup_id(folder, now)
    tables = []
    members = []
    for t in dump.tables:
        member_path = f"db/{t.path.name}"
        tables.append({"name": t.table, "path": member_path, "rows": t.rows})
        members.append(Member(member_path, t.size, t.path, compressible=True))
    for f in media:
        members.append(Member(f"uploads/{f.relpath}", f.size, f.source))
    meta = {
        "format": FORMAT,
        "backup_id": backup_id,
        "created_at": format_time(now),
        "app_version": app_package.__version__,
        "database": {"dialect": dump.dialect, "revision": dump.revision},
        "tables": tables,
        "media": {"files": len(media), "bytes": sum(f.size for f in media)},
        "fingerprint": fingerprint,
    }
    result = write_archive(
        folder / (backup_id + SUFFIX), meta, members, progress=_phase(progress, "write")
    )
    return BackupOutcome(
        backup_id=backup_id,
        path=result.path,
        created=True,
        size=result.size,
        counts=counts,
        files=len(media),
        duration=time.monotonic() - started,
        created_at=now,
        checked_at=now,
        fingerprint=fingerprint,
    )


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(config, keep):
    """Delete good backups beyond the newest ``keep``; never the newest; never damaged ones."""
    keep = max(1, int(keep))
    good = [info for info in list_backups(config) if info.ok]
    deleted = []
    for info in good[keep:]:
        info.path.unlink(missing_ok=True)
        deleted.append(info.backup_id)
    if deleted:
        _fsync_dir(backups_dir(config))
        log.info("retention (keep %d) deleted %s", keep, ", ".join(deleted))
    return deleted


def prune_backups(config, *, keep=None):
    """Apply retention now: keep the newest ``keep`` (default BACKUP_KEEP) good backups.

    Damaged archives are neither counted nor deleted (they are listed as
    damaged so a person decides). Returns the deleted ids.
    """
    with backup_lock(config, "prune"):
        return _prune(config, config.get("BACKUP_KEEP", 10) if keep is None else keep)


def delete_backup(config, backup_id):
    """Delete one backup (good or damaged)."""
    path = backup_path(config, backup_id)
    with backup_lock(config, "delete"):
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    note = catalog.read_current_note(config)
    if note and note["backup_id"] == path.name[: -len(SUFFIX)]:
        (backups_dir(config) / catalog.CURRENT_NOTE).unlink(missing_ok=True)
    log.info("backup %s deleted", path.name)


def verify_backup(config, backup_id, progress=None):
    """Check a backup fully (structure, every SHA-256, manifest); return its manifest.

    ``progress(phase, done, total)`` is called with phase "verify".
    Raises BackupNotFound, CorruptArchive or UnsafeArchive with the reason.
    """
    path = backup_path(config, backup_id)
    manifest = verify_archive(path, progress=_phase(progress, "verify"))
    catalog.check_system_manifest(manifest, path.name)
    return manifest


def backup_status(config, *, clock=utcnow):
    """Return the state of the backups: count, sizes, free disk, newest good one, staleness."""
    now = clock()
    folder = backups_dir(config)
    infos = list_backups(config)
    good = [i for i in infos if i.ok]
    newest = good[0] if good else None
    max_age = int(config.get("BACKUP_MAX_AGE", DEFAULT_MAX_AGE))
    last_success = newest.created_at if newest else None
    note = catalog.read_current_note(config)
    if newest and note and note["backup_id"] == newest.backup_id:
        last_success = max(last_success, note["checked_at"])
    age = (now - last_success).total_seconds() if last_success else None
    if newest is None:
        reason = f"no good backup in {folder}"
    elif age > max_age:
        reason = (
            f"the newest good backup ({newest.backup_id}) was last confirmed "
            f"{age / 3600:.1f} h ago, more than the {max_age / 3600:g} h allowed"
        )
    else:
        reason = None
    usage = shutil.disk_usage(folder if folder.exists() else data_path(config))
    return {
        "count": len(good),
        "damaged": [{"id": i.backup_id, "error": i.error} for i in infos if not i.ok],
        "total_size": sum(i.size for i in infos),
        "free_bytes": usage.free,
        "folder": str(folder),
        "newest": newest.to_dict(now) if newest else None,
        "last_success_at": format_time(last_success) if last_success else None,
        "age_seconds": round(age, 3) if age is not None else None,
        "max_age_seconds": max_age,
        "stale": reason is not None,
        "reason": reason,
        "running": lock_holder(config),
        "old_media_folders": [str(p) for p in catalog.old_media_folders(config)],
        "maintenance": maintenance_state(config),
    }
