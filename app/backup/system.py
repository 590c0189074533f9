"""System backups: make, list, verify, delete, prune and report on whole-system archives.

A system backup is one ``.tar.gz`` (see ``app.archive``) holding
``manifest.json``, a logical dump of every table (``db/NNN-<table>.jsonl``, in
foreign-key order, see ``app.dumps.dump``), every file under ``uploads/``
and ``SHA256SUMS``. The manifest records the format, creation time, app
version, database dialect and Alembic revision, per-table row counts, media
totals and a content fingerprint.

Every function takes the Flask config mapping (``app.config``); those that
touch the database take an engine; those that depend on time take ``clock``
(a function returning naive UTC), so tests can live through months of nights.
Restores (``app.backup.restore``), retention (``app.backup.retention``) and
status (``app.backup.status``) are re-exported here, beside what this module
makes; the face of the package, for the layers above, is ``app.backup``.
"""

import functools
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from app.archive import (
    Late,
    Member,
    RoomExceeded,
    is_disk_full,
    remove_tree,
    verify_archive,
    write_archive,
)
from app.backup import catalog
from app.backup.catalog import FORMAT, SUFFIX, backup_path, backups_dir, list_backups
from app.backup.dumpahead import DumpAhead
from app.backup.errors import NotEnoughSpace
from app.backup.history import SiteIndexer, make_index, sweep_orphans, write_index
from app.backup.mediasnap import MEMBER_PREFIX, content_fingerprint
from app.backup.restore import RestoreOutcome, recover_locked, restore_backup
from app.backup.retention import delete_backup, prune_backups, prune_locked
from app.backup.status import backup_status
from app.config import archive_key, data_path
from app.coordination import backup_lock
from app.dumps import dump_filename, estimate_database_size
from app.errors import StinkyKittyError
from app.extensions import db
from app.humanize import human_size
from app.models import format_utc, utcnow
from app.version import __version__

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
        data["created_at"] = format_utc(self.created_at)
        data["checked_at"] = format_utc(self.checked_at)
        data["duration"] = round(self.duration, 3)
        return data


def create_backup(config, engine, *, clock=utcnow, skip_unchanged=None, progress=None):
    """Make a system backup now; return a BackupOutcome.

    When nothing changed since the newest backup and ``skip_unchanged`` (default:
    config BACKUP_SKIP_UNCHANGED) is true, write no copy: record that the newest
    is still current. Then apply retention. ``progress(phase, done, total)`` is
    called with phase "write" (archive members, the database tables last: they
    are dumped while the media are written).
    Raises BackupLocked, NotEnoughSpace or BackupError.
    """
    started = time.monotonic()
    if skip_unchanged is None:
        skip_unchanged = config.get("BACKUP_SKIP_UNCHANGED", True)
    folder = backups_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    with backup_lock(config, "backup", clock=clock):
        recover_locked(config, engine)  # never back up half a restore
        catalog.remove_leftovers(config)
        sweep_orphans(config)  # the site indexes of backups deleted since the last run
        token = secrets.token_hex(4)
        work = folder / f".backup.tmp-{token}"
        links = data_path(config, f".backup-media.tmp-{token}")
        try:
            outcome = _create_locked(
                config, engine, clock, skip_unchanged, progress, started, work, links
            )
        except OSError as exc:
            if is_disk_full(exc):
                raise NotEnoughSpace(
                    f"disk full while backing up into {folder}; nothing was kept, "
                    "free some space and try again"
                ) from exc
            raise
        finally:
            remove_tree(work, ignore_errors=True)
            remove_tree(links, ignore_errors=True)
        try:
            catalog.write_current_note(
                config, outcome.backup_id, outcome.fingerprint, outcome.checked_at
            )
        except OSError:  # only a cache: status may report the backup older than it is
            log.warning("could not record that backup %s is current", outcome.backup_id)
        pruned = prune_locked(config, config.get("BACKUP_KEEP", 10))
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
    """Dump while the media are written; keep the archive unless nothing changed."""
    folder = backups_dir(config)
    newest = catalog.newest_good(config) if skip_unchanged else None
    work.mkdir()
    indexer = SiteIndexer()
    ahead = DumpAhead(
        config,
        engine,
        db.metadata.sorted_tables,
        work,
        links,
        folder,
        estimate_database_size(engine),
        watch=indexer.watch,
    )
    try:
        media = ahead.media()
        now = clock()
        backup_id = catalog.new_backup_id(folder, now)
        fingerprint = _Fingerprint(ahead, media)

        def outcome(backup_id, path, created, size, created_at):
            dump = ahead.result()
            return BackupOutcome(
                backup_id=backup_id,
                path=path,
                created=created,
                size=size,
                counts={t.table: t.rows for t in dump.tables},
                files=len(media),
                duration=time.monotonic() - started,
                created_at=created_at,
                checked_at=now,
                fingerprint=fingerprint.value(),
            )

        def check():
            ahead.check()
            if newest is not None and fingerprint.value(wait=False) == newest.fingerprint:
                raise _Unchanged()

        def final_meta():
            check()
            return _meta(backup_id, now, ahead.result(), media, fingerprint.value())

        path = folder / (backup_id + SUFFIX)
        media_members = _MediaMembers(media)
        # "Complete and verified" is established while writing: every member's
        # SHA-256 and the gzip CRC-32 are computed over the very same chunks as
        # they are stored or deflated, sizes are checked against the manifest (a
        # source that shrinks fails the backup), the file is fsynced and its size
        # on disk checked, and the writer parses its own manifest, checksum list
        # and tag back from the file with the reader's code before the rename
        # (they are small). Re-reading every member would come from the page
        # cache, not the disk, at the cost of a third of the backup's time; the
        # scheduled verification (app.backup.verification) reads them all later.
        write = functools.partial(
            write_archive,
            path,
            progress=catalog.phase(progress, "write"),
            digest=False,  # the whole file's SHA-256 is not recorded for backups
            key=archive_key(config),
        )
        try:
            late = Late(ahead.member_paths, ahead.members(), final_meta, check)
            stand_in = _meta(backup_id, now, None, media, None)
            result = write(stand_in, media_members, late=late, on_member=indexer.add_file)
        except _Unchanged:
            return outcome(newest.backup_id, newest.path, False, newest.size, newest.created_at)
        except RoomExceeded:  # the manifest came out larger than planned: write it in turn
            dump = ahead.result()
            meta = _meta(backup_id, now, dump, media, fingerprint.value())
            indexer.forget_files()
            more = _table_members(dump)
            result = write(meta, _MediaMembers(media, more), on_member=indexer.add_file)
        _keep_index(config, backup_id, now, ahead.result(), indexer)
        return outcome(backup_id, result.path, True, result.size, now)
    finally:
        ahead.stop()  # the dump thread feeds the indexer: it ends first
        indexer.close()


def _keep_index(config, backup_id, now, dump, indexer):
    """Write the site index beside the new backup (a cache: a failure is logged, not raised).

    Its sites are made one at a time as they are written (see SiteIndexer.iter_entries).
    """
    index = make_index(backup_id, format_utc(now), dump.revision, indexer.iter_entries())
    try:
        write_index(config, index)
    except OSError as exc:  # the history indexes the backup from its archive instead
        log.warning("could not write the site index of backup %s: %s", backup_id, exc)


class _MediaMembers:
    """The archive members of a media snapshot, then ``more``: made afresh each time it is read."""

    def __init__(self, media, more=()):
        self._media, self._more = media, list(more)

    def __iter__(self):
        for file in self._media:
            yield Member(MEMBER_PREFIX + file.relpath, file.size, file.source)
        yield from self._more


class _Unchanged(StinkyKittyError):
    """The dump shows nothing changed since the newest backup: the archive is not needed."""


class _Fingerprint:
    """The content fingerprint of a dump in progress and a media snapshot, once the dump is done."""

    def __init__(self, ahead, media):
        self._ahead, self._media, self._value = ahead, media, None

    def value(self, wait=True):
        """Return the fingerprint (None if ``wait`` is false and the dump is still running)."""
        if self._value is None and (wait or self._ahead.dump is not None):
            self._value = content_fingerprint(self._ahead.result(), self._media)
        return self._value


# Stands in for a number of rows before the dump has counted them: as wide as any real count.
_STAND_IN_ROWS = 999_999_999_999_999


def _meta(backup_id, now, dump, media, fingerprint):
    """Return the manifest fields of a backup; while ``dump`` is None, a stand-in as wide."""
    if dump is None:
        tables = [(t.name, _STAND_IN_ROWS) for t in db.metadata.sorted_tables]
        database = {"dialect": "f" * 16, "revision": "f" * 64}
        fingerprint = "f" * 64
    else:
        tables = [(t.table, t.rows) for t in dump.tables]
        database = {"dialect": dump.dialect, "revision": dump.revision}
    return {
        "format": FORMAT,
        "backup_id": backup_id,
        "created_at": format_utc(now),
        "app_version": __version__,
        "database": database,
        "tables": [
            {"name": name, "path": f"db/{dump_filename(i, name)}", "rows": rows}
            for i, (name, rows) in enumerate(tables, 1)
        ],
        "media": {"files": len(media), "bytes": media.size},
        "fingerprint": fingerprint,
    }


def _table_members(dump):
    """Return the archive members of a dump's table files."""
    return [Member(f"db/{t.path.name}", t.size, t.path, compressible=True) for t in dump.tables]


def verify_backup(config, backup_id, progress=None, *, allow_unauthenticated=False):
    """Check a backup fully (structure, every SHA-256, tag, manifest); return its manifest.

    ``progress(phase, done, total)`` is called with phase "verify". Unless
    ``allow_unauthenticated``, the authentication tag must match BACKUP_KEY.
    Raises BackupNotFound, Unauthenticated, CorruptArchive or UnsafeArchive with the reason.
    """
    path = backup_path(config, backup_id)
    manifest = verify_archive(
        path,
        key=catalog.key_for(config, allow_unauthenticated),
        progress=catalog.phase(progress, "verify"),
    )
    catalog.check_system_manifest(manifest, path.name)
    return manifest
