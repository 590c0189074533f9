"""The site index beside each backup: ``<id>.sites.json`` in the backups folder.

A backup is one gzip stream written in a single pass: a member holding the
index would come after the media, so reading it would inflate the whole
archive, and it could not hold the files' SHA-256, which the writer computes as
it stores them. So the index (``app.backup.history.index``) is written beside the
archive when the backup is made, atomically (a temporary file, fsync, rename),
from the dump as it was written and the writer's checksums. The archive format
does not change; the index is a cache of what the archive holds, rebuilt from
it when missing.

A backup without one (made before 0.3.0, fetched from off-site storage, or
whose index could not be written) is indexed once, lazily (``index_backup``):
under the backup lock, the archive is verified whole while its site tables'
dumps are extracted to a staging folder; the dumps are read through the same
indexer and the files' SHA-256 come from its ``SHA256SUMS``. A damaged or
unauthenticated archive gets an index that says so (``error``), so it is not
read again on every listing.

An index outlives its archive while an off-site copy of the backup exists:
it stays where it is, and Site history lists that version from it (fetched
when restored) without asking the store. The next backup run deletes the
indexes whose archive is gone and whose copy the local record of off-site
copies (``app.backup.offsite.read_record``) no longer holds
(``sweep_orphans``); remote retention deletes the index of a copy it prunes
when the archive is not here either.
"""

import json
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import NotRequired, TypedDict, cast

from app.archive import CHECKSUMS_NAME, fsync_dir, parse_checksums, read_manifest
from app.backup import catalog
from app.backup.catalog import INDEX_SUFFIX, index_path
from app.backup.errors import BackupLocked, BackupNotFound, CorruptArchive, NotEnoughSpace
from app.backup.history.index import (
    FORMAT,
    PARENTS,
    VERSION,
    SiteEntry,
    SiteIndexer,
)
from app.backup.offsite import read_record
from app.backup.restore import staged_backup
from app.coordination import backup_lock

log = logging.getLogger(__name__)

LOCK_WAIT = 5.0  # seconds a lazy index waits for a running backup or restore


class BackupIndex(TypedDict):
    """The file beside a backup: its sites, or why it could not be indexed.

    Read (``read_index``), ``sites`` is a list; to be written, any iterable of
    entries, consumed once as the file is written (one site at a time).
    """

    format: str
    version: int
    backup_id: str
    created_at: str | None
    revision: str | None
    sites: Iterable[SiteEntry]
    error: NotRequired[str | None]


def make_index(
    backup_id: str,
    created_at: str | None,
    revision: str | None,
    sites: Iterable[SiteEntry],
    error: str | None = None,
) -> BackupIndex:
    """Return the index record of a backup (``sites`` may be an iterator: see ``write_index``)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "backup_id": backup_id,
        "created_at": created_at,
        "revision": revision,
        "sites": sites,
        "error": error,
    }


def write_index(config, index: BackupIndex) -> Path:
    """Write ``index`` beside its backup, atomically and durably; return its path.

    JSON lines: the backup's line (the index without its sites), then one line
    per site that starts with its id, so a reader parses only the site it wants.
    Each site's line is written as ``index["sites"]`` yields it (an iterator,
    such as ``SiteIndexer.iter_entries()``, is consumed once; no list is made).
    """
    path = index_path(config, index["backup_id"])
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    head = {key: value for key, value in index.items() if key != "sites"}
    try:
        with open(tmp, "xb") as out:
            out.write(_line(head))
            for site in index["sites"]:
                out.write(_line(site))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _line(record) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def read_index(config, backup_id: str, site_id: int | None = None) -> BackupIndex | None:
    """Return the index kept beside ``backup_id``, or None (none yet, or not one this app reads).

    With ``site_id``, ``sites`` holds that site's entry alone (or nothing).
    """
    wanted = None if site_id is None else b'{"id":%d,' % site_id
    try:
        with open(index_path(config, backup_id), "rb") as source:
            index = json.loads(source.readline())
            sites = []
            for line in source:
                if wanted is None or line.startswith(wanted):
                    sites.append(json.loads(line))
                    if wanted is not None:
                        break  # one line per site
    except (OSError, ValueError):
        return None
    good = (
        isinstance(index, dict)
        and index.get("format") == FORMAT
        and index.get("version") == VERSION
        and index.get("backup_id") == backup_id
        and all(isinstance(site, dict) for site in sites)
    )
    return cast(BackupIndex, {**index, "sites": sites}) if good else None


def index_backup(config, backup_id: str, *, wait: float = LOCK_WAIT) -> BackupIndex:
    """Index an existing backup from its archive (see the module) and keep the index; return it.

    Raises BackupLocked when a backup or restore runs past ``wait`` seconds,
    BackupNotFound, NotEnoughSpace; a damaged archive gives an index with ``error``.
    """
    path = catalog.backup_path(config, backup_id)
    with backup_lock(config, "site index", wait=wait):
        try:
            index = _index_archive(config, backup_id, path)
        except CorruptArchive as exc:  # damaged or not authenticated: it will not read better
            index = make_index(backup_id, None, None, [], error=str(exc))
        if not path.is_file():  # deleted meanwhile: keep nothing of it
            return index
        write_index(config, index)
    log.info("indexed the sites of backup %s", backup_id)
    return index


def _index_archive(config, backup_id, path) -> BackupIndex:
    manifest = read_manifest(path)
    catalog.check_system_manifest(manifest, path.name)
    dumps = {t["path"]: t["name"] for t in manifest["tables"] if t["name"] in PARENTS}
    with SiteIndexer() as indexer:
        with staged_backup(
            config,
            path,
            manifest,
            what=f"indexing backup {backup_id}",
            keep=lambda name: name in dumps,
            key=catalog.key_for(config),
        ) as staging:
            for member, table in dumps.items():
                indexer.read_file(table, staging / member)
            sums = parse_checksums(
                (staging / CHECKSUMS_NAME).read_bytes(), path.name, CHECKSUMS_NAME
            )
        for member in manifest["files"]:
            if member["path"] in sums:
                indexer.add_file(member["path"], member["size"], sums[member["path"]])
        return make_index(
            backup_id,
            manifest["created_at"],
            manifest["database"].get("revision"),
            indexer.entries(),
        )


def sweep_orphans(config) -> list[str]:
    """Delete the indexes of backups gone here and off-site (call under the backup lock).

    An index stays while its archive is here or the local record of off-site
    copies holds a copy of it (no request to the store). Returns their names.
    """
    folder = catalog.backups_dir(config)
    remote = set(read_record(config)["copies"])
    removed = []
    for path in folder.glob("stinkykitty-*" + INDEX_SUFFIX):
        backup_id = path.name[: -len(INDEX_SUFFIX)]
        if backup_id not in remote and not (folder / (backup_id + catalog.SUFFIX)).exists():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def index_missing(config) -> list[str]:
    """Index every backup that has no readable index yet, newest first; return their ids.

    Stops at the first one a running backup or restore keeps locked (the next call goes on).
    """
    done = []
    for path in catalog.backup_files(config):
        backup_id = path.name[: -len(catalog.SUFFIX)]
        if read_index(config, backup_id) is not None:
            continue
        try:
            index_backup(config, backup_id)
        except BackupLocked:
            break
        except (BackupNotFound, NotEnoughSpace) as exc:  # gone meanwhile, or no room now
            log.warning("could not index backup %s: %s", backup_id, exc)
            continue
        done.append(backup_id)
    return done
