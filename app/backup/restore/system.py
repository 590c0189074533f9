"""Restore a system backup: all of it, or nothing.

1. Under the backup lock, read the manifest and refuse early what cannot be
   restored (not a system backup, a newer schema revision, too little space).
2. Extract and verify the whole archive in one pass into a staging folder next
   to ``uploads/`` (``app.archive.extract_archive`` checks every name,
   type, size and SHA-256). A bad or hostile archive stops here: nothing changed.
3. Enter maintenance mode (the web answers 503, worker tasks that touch site
   data retry later), wait for the running ones (``app.coordination.running``),
   then in ONE database transaction delete every row, load the dump, check
   the counts, move the old ``uploads/`` aside and the staged one in (two
   renames on one filesystem), and commit.
   A backup of an older schema revision is first migrated on a scratch copy
   inside the staging folder (``app.backup.restore.upgrade``); a failing migration
   stops before anything live changed.
4. On any failure: roll back, put the old media folder back, leave maintenance
   and raise RestoreFailed saying what failed. After success, delete the old
   media folder, compare the table counts with the manifest and log.

A crash (SIGKILL, power loss) during the swap is finished or undone by the
next process that starts, from the journal written before the first rename
(see ``app.backup.restore.journal``), so database and media always match one state.
Leftover staging folders are removed by the next backup or restore.
"""

import logging
import os
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from app.archive import remove_tree
from app.backup import catalog
from app.backup.errors import CorruptArchive, RestoreFailed
from app.backup.restore import upgrade
from app.backup.restore.journal import (
    mark,
    prepare_marks,
    reached,
    remove_journal,
    write_journal,
)
from app.backup.restore.staging import open_backup, staged_backup
from app.config import data_path
from app.coordination import backup_lock, enter_maintenance, leave_maintenance, wait_for_tasks
from app.dumps import DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_ROW_BYTES, load_database
from app.extensions import db
from app.models import format_utc, parse_utc, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreOutcome:
    """What ``restore_backup`` restored."""

    backup_id: str
    created_at: object  # naive UTC datetime the backup was made
    counts: dict[str, int]
    files: int
    duration: float
    count_mismatches: dict[str, tuple[int, int]]  # table -> (in manifest, in database)
    migrations: tuple = ()  # revisions the backup was migrated through, oldest first

    def to_dict(self):
        """Return a JSON-ready dict."""
        return {
            "backup_id": self.backup_id,
            "created_at": format_utc(self.created_at),
            "counts": self.counts,
            "files": self.files,
            "duration": round(self.duration, 3),
            "count_mismatches": {k: list(v) for k, v in self.count_mismatches.items()},
            "migrations": list(self.migrations),
        }


def _tables_of(manifest, name, schema=None):
    """Return [(Table, member path, rows)] in our FK order; the sets must match exactly."""
    listed = {t["name"]: t for t in manifest["tables"]}
    ours = (schema or db.metadata).sorted_tables
    if set(listed) != {t.name for t in ours}:
        missing = sorted({t.name for t in ours} - set(listed))
        extra = sorted(set(listed) - {t.name for t in ours})
        raise CorruptArchive(
            f"{name}: its tables do not match this schema (missing {missing}, unknown {extra})"
        )
    return [(t, listed[t.name]["path"], listed[t.name]["rows"]) for t in ours]


def restore_backup(
    config, engine, backup_id, progress=None, *, clock=utcnow, allow_unauthenticated=False
):
    """Replace the database and media with backup ``backup_id``; return a RestoreOutcome.

    ``progress(phase, done, total)`` is called with phases "extract" and "load".
    Unless ``allow_unauthenticated``, the archive's tag must match BACKUP_KEY.
    Raises BackupNotFound, Unauthenticated, CorruptArchive/UnsafeArchive, SchemaMismatch,
    NotEnoughSpace, BackupLocked (nothing changed) or RestoreFailed (rolled back).
    """
    started = time.monotonic()
    path = catalog.backup_path(config, backup_id)
    backup_id = catalog.normalize_id(backup_id)
    with backup_lock(config, "restore", clock=clock):
        manifest, steps = open_backup(config, engine, path)
        tables = None if steps else _tables_of(manifest, path.name)
        with staged_backup(
            config,
            path,
            manifest,
            what=f"restoring {backup_id}",
            progress=catalog.phase(progress, "extract"),
            key=catalog.key_for(config, allow_unauthenticated),
        ) as staging:
            if steps:  # an older schema: migrate a scratch copy, then swap that in
                head = upgrade.load_at_head(
                    config,
                    staging,
                    manifest,
                    steps,
                    dialect=engine.dialect.name,
                    name=path.name,
                    progress=catalog.phase(progress, "migrate"),
                )
                tables = _tables_of({"tables": head.tables}, path.name, head.schema)
            reached("extracted")
            enter_maintenance(config, f"restoring {backup_id}", clock=clock)
            try:
                wait_for_tasks(config, progress=catalog.phase(progress, "wait"))
                counts = _swap_in(config, engine, backup_id, staging, tables, progress)
                mismatches = _count_mismatches(engine, tables)
            finally:
                leave_maintenance(config)
    outcome = RestoreOutcome(
        backup_id=backup_id,
        created_at=parse_utc(manifest["created_at"]),
        counts=counts,
        files=manifest["media"]["files"],
        duration=time.monotonic() - started,
        count_mismatches=mismatches,
        migrations=tuple(step.revision for step in steps),
    )
    if mismatches:
        log.error("restore of %s: row counts differ from the manifest: %s", backup_id, mismatches)
    log.info(
        "restored backup %s (made %s): %d rows, %d media files, in %.1f s",
        backup_id,
        manifest["created_at"],
        sum(counts.values()),
        outcome.files,
        outcome.duration,
    )
    return outcome


def _install_media(staged, uploads):
    """Move the staged media folder into place (the second rename of the swap)."""
    os.rename(staged, uploads)


def _swap_in(config, engine, backup_id, staging, tables, progress):
    """Load the database and swap the media in, in one transaction; undo both on failure."""
    uploads = data_path(config, "uploads")
    staged = staging / "uploads"
    staged.mkdir(exist_ok=True)  # a backup without media restores to an empty folder
    aside = data_path(config, f"uploads.pre-restore-{backup_id}-{secrets.token_hex(3)}")
    moved_aside = False
    step = "loading the database"
    prepare_marks(engine)
    conn = engine.connect()
    try:
        trans = conn.begin()
        entries = [(table, staging / member) for table, member, _rows in tables]
        counts = load_database(
            conn,
            entries,
            progress=catalog.phase(progress, "load"),
            max_row=config.get("RESTORE_MAX_ROW_BYTES", DEFAULT_MAX_ROW_BYTES),
            lock_timeout=config.get("RESTORE_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT),
        )
        for table, _member, rows in tables:
            if counts[table.name] != rows:
                raise CorruptArchive(
                    f"{table.name}: {counts[table.name]} rows in the dump, {rows} in the manifest"
                )
        reached("loaded")
        step = "swapping the media folder"
        mark(conn, write_journal(config, backup_id, aside, staged))
        reached("journaled")
        if uploads.exists():
            os.rename(uploads, aside)
            moved_aside = True
            reached("moved-aside")
        _install_media(staged, uploads)
        reached("installed")
        step = "committing"
        trans.commit()
        reached("committed")
    except BaseException as exc:
        _undo(conn, uploads, aside, staged, moved_aside)
        remove_journal(config)
        if not isinstance(exc, Exception):
            raise
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RestoreFailed(
            f"restore of {backup_id} failed while {step} ({detail}); "
            "the database and media were left as they were"
        ) from exc
    finally:
        conn.close()
    remove_tree(aside, ignore_errors=True)
    reached("cleaned")
    remove_journal(config)
    reached("done")
    return counts


def _undo(conn, uploads, aside, staged, moved_aside):
    """Roll back the transaction and put the old media folder back."""
    try:
        conn.rollback()
    except Exception:  # the connection may be the thing that broke; the server rolls back
        log.exception("rollback after a failed restore")
    try:
        if not staged.exists() and uploads.exists():  # the restored media went in: take them out
            os.rename(uploads, staged)
        if moved_aside:
            os.rename(aside, uploads)
    except OSError as exc:
        log.exception("putting the media folder back after a failed restore")
        raise RestoreFailed(
            f"restore failed and the old media could not be put back ({exc}): "
            f"they are in {aside}; move them back to {uploads} by hand"
        ) from exc


def _count_mismatches(engine, tables):
    """Return {table: (in manifest, in database)} for tables whose counts differ."""
    mismatches = {}
    with engine.connect() as conn:
        for table, _member, rows in tables:
            actual = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            if actual != rows:
                mismatches[table.name] = (rows, actual)
    return mismatches
