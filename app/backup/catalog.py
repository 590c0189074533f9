"""The folder of system backups: ids, what each archive holds, and the "still current" note.

A backup is ``<data dir>/backups/system/<id>.tar.gz`` with the id
``stinkykitty-YYYY-MM-DD-HHMMSS`` (UTC). Ids sort in time order and are
strictly increasing: a backup made in a second that already has one (or
after the clock stepped back) takes the next free second after the newest id,
so the name is always a plain timestamp and never collides. The real creation
time is in the manifest.

Everything here is read from the archives themselves (only their first
member, the manifest). The one other file, ``.still-current.json``, records
that a later run found nothing changed since the newest backup; it is a cache
that the next run rewrites, and nothing else depends on it.
"""

import contextlib
import datetime as dt
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from app.archive import CHECKSUMS_NAME, TAG_NAME, read_manifest, remove_tree
from app.backup.errors import ArchiveError, BackupError, BackupNotFound, CorruptArchive
from app.config import archive_key, data_path
from app.models import format_utc, parse_utc

log = logging.getLogger(__name__)

FORMAT = "stinkykitty-system-backup"
SUFFIX = ".tar.gz"
ID_TIME_FORMAT = "%Y-%m-%d-%H%M%S"
ID_PATTERN = re.compile(r"^stinkykitty-(\d{4}-\d{2}-\d{2}-\d{6})$")
CURRENT_NOTE = ".still-current.json"
INDEX_SUFFIX = ".sites.json"  # the site index kept beside a backup (app.backup.history.store)
# Crash leftovers: temporaries in the backups folder, staging folders in the data dir.
LEFTOVER_GLOBS = (
    ("backups/system", ".*.tmp-*"),
    (".", ".backup-media.tmp-*"),
    (".", ".restore-staging.tmp-*"),
)


def backups_dir(config):
    """Return the folder that holds the system backups."""
    return data_path(config, "backups", "system")


def index_path(config, backup_id: str) -> Path:
    """Return where the site index of ``backup_id`` is kept (see ``app.backup.history.store``)."""
    return backups_dir(config) / f"{backup_id}{INDEX_SUFFIX}"


def backup_id_for(moment):
    """Return the id of a backup made at ``moment`` (naive UTC)."""
    return "stinkykitty-" + moment.strftime(ID_TIME_FORMAT)


def id_time(backup_id):
    """Return the UTC time written in ``backup_id``."""
    return dt.datetime.strptime(ID_PATTERN.match(backup_id).group(1), ID_TIME_FORMAT)


def normalize_id(text):
    """Return the backup id in ``text`` (an id or a file name), or raise BackupNotFound."""
    name = Path(str(text).strip()).name
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    if not ID_PATTERN.match(name):
        raise BackupNotFound(
            f"{text!r} is not a backup id (they look like stinkykitty-2025-07-01-020000; "
            "`flask backup list` shows them)"
        )
    return name


def backup_path(config, backup_id):
    """Return the path of an existing backup, or raise BackupNotFound."""
    backup_id = normalize_id(backup_id)
    path = backups_dir(config) / (backup_id + SUFFIX)
    if not path.is_file():
        raise BackupNotFound(
            f"no backup {backup_id} in {backups_dir(config)} (`flask backup list` shows them)"
        )
    return path


def new_backup_id(folder, now):
    """Return a free id for a backup made at ``now``, later than every existing one."""
    moment = now.replace(microsecond=0)
    existing = sorted(p.name[: -len(SUFFIX)] for p in Path(folder).glob("stinkykitty-*" + SUFFIX))
    existing = [i for i in existing if ID_PATTERN.match(i)]
    if existing and backup_id_for(moment) <= existing[-1]:
        moment = id_time(existing[-1]) + dt.timedelta(seconds=1)
    return backup_id_for(moment)


def key_for(config, allow_unauthenticated=False):
    """Return the key an archive must be authenticated with (None: accept any, or none)."""
    return None if allow_unauthenticated else archive_key(config)


def phase(progress, name):
    """Adapt ``progress(phase, done, total)`` to a ``(done, total)`` callback for step ``name``."""
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def check_system_manifest(manifest, name):
    """Raise CorruptArchive unless ``manifest`` is a consistent system backup manifest."""

    def bad(reason):
        return CorruptArchive(f"{name}: {reason}")

    if manifest.get("format") != FORMAT:
        raise bad(f"not a system backup (format {manifest.get('format')!r})")
    try:
        tables = manifest["tables"]
        database = manifest["database"]
        media = manifest["media"]
        parse_utc(manifest["created_at"])
        if not isinstance(database["dialect"], str):
            raise TypeError("dialect")
        scan = _FileScan(manifest["files"], tables)
        for table in tables:
            if table["path"] not in scan.dumps or not table["path"].startswith("db/"):
                raise bad(f"table {table['name']!r} has no dump file in the archive")
            if not isinstance(table["rows"], int) or table["rows"] < 0:
                raise bad(f"table {table['name']!r} has a bad row count")
        if scan.first_other is not None:
            raise bad(f"unexpected member {scan.first_other!r}")
        if scan.uploads != media["files"] or scan.upload_bytes != media["bytes"]:
            raise bad("the media totals do not match the file list")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(f"manifest.json is incomplete or malformed ({exc!s})") from None


class _FileScan:
    """One pass over a manifest's files (a hundred thousand, say): nothing kept per file.

    ``dumps``: the tables' dump paths that are listed; ``uploads`` and
    ``upload_bytes``: the media files and their total size; ``first_other``:
    the first (in sort order) listed path that is none of these, if any.
    """

    def __init__(self, files, tables):
        wanted = set()
        for table in tables:
            with contextlib.suppress(KeyError, TypeError, IndexError):
                if isinstance(table["path"], str):
                    wanted.add(table["path"])
        self.dumps = set()
        self.uploads = self.upload_bytes = 0
        self.first_other = None
        for entry in files:
            path = entry["path"]
            if path in wanted:
                self.dumps.add(path)
            elif path.startswith("uploads/"):
                self.uploads += 1
                self.upload_bytes += entry["size"]
            elif path not in (CHECKSUMS_NAME, TAG_NAME) and (
                self.first_other is None or path < self.first_other
            ):
                self.first_other = path


@dataclass
class BackupInfo:
    """What is known about one archive in the backups folder (``error`` set when damaged)."""

    backup_id: str
    path: Path
    size: int
    created_at: dt.datetime
    error: str | None = None
    manifest: dict = field(default_factory=dict, repr=False)  # without its "files"

    @property
    def ok(self):
        """Whether the archive's manifest could be read."""
        return self.error is None

    @property
    def counts(self):
        """Rows per table."""
        return {t["name"]: t["rows"] for t in self.manifest.get("tables", [])}

    @property
    def files(self):
        """Number of media files."""
        return self.manifest.get("media", {}).get("files", 0)

    @property
    def fingerprint(self):
        """The content fingerprint (see system.content_fingerprint)."""
        return self.manifest.get("fingerprint")

    def to_dict(self, now=None):
        """Return a JSON-ready summary; with ``now``, include the age in seconds."""
        database = self.manifest.get("database", {})
        data = {
            "id": self.backup_id,
            "file": self.path.name,
            "size": self.size,
            "created_at": format_utc(self.created_at),
            "ok": self.ok,
            "error": self.error,
            "app_version": self.manifest.get("app_version"),
            "dialect": database.get("dialect"),
            "revision": database.get("revision"),
            "rows": sum(self.counts.values()),
            "counts": self.counts,
            "files": self.files,
            "media_bytes": self.manifest.get("media", {}).get("bytes", 0),
        }
        if now is not None:
            data["age_seconds"] = round((now - self.created_at).total_seconds(), 3)
        return data


def read_info(path):
    """Return the BackupInfo of the archive at ``path`` (damaged ones have ``error`` set)."""
    path = Path(path)
    backup_id = path.name[: -len(SUFFIX)]
    size = path.stat().st_size
    try:
        manifest = read_manifest(path)
        check_system_manifest(manifest, path.name)
        created_at = parse_utc(manifest["created_at"])
    except (BackupError, ArchiveError, OSError) as exc:
        return BackupInfo(backup_id, path, size, id_time(backup_id), error=str(exc))
    # Its file list is checked, not kept: a large one reads from a temporary database
    # (the reader's), which a list of ten backups of 100,000 files each would keep open.
    head = {key: value for key, value in manifest.items() if key != "files"}
    return BackupInfo(backup_id, path, size, created_at, manifest=head)


def backup_files(config):
    """Return the paths of the backups in the folder, newest first (by id)."""
    folder = backups_dir(config)
    if not folder.is_dir():
        return []
    paths = [
        path
        for path in folder.glob("stinkykitty-*" + SUFFIX)
        if ID_PATTERN.match(path.name[: -len(SUFFIX)]) and path.is_file()
    ]
    return sorted(paths, key=lambda path: path.name, reverse=True)


def list_backups(config):
    """Return every backup in the folder, newest first; damaged ones included with ``error``."""
    infos = []
    for path in backup_files(config):
        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
            infos.append(read_info(path))
    return infos


def newest_good(config):
    """Return the BackupInfo of the newest readable backup, or None."""
    for path in backup_files(config):
        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
            info = read_info(path)
            if info.ok:
                return info
    return None


def write_current_note(config, backup_id, fingerprint, checked_at):
    """Record that ``backup_id`` still matched the live content at ``checked_at``."""
    path = backups_dir(config) / CURRENT_NOTE
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    note = {
        "backup_id": backup_id,
        "fingerprint": fingerprint,
        "checked_at": format_utc(checked_at),
    }
    tmp.write_text(json.dumps(note))
    os.replace(tmp, path)


def read_current_note(config):
    """Return the "still current" note as {"backup_id", "fingerprint", "checked_at"}, or None."""
    try:
        note = json.loads((backups_dir(config) / CURRENT_NOTE).read_text())
        note["checked_at"] = parse_utc(note["checked_at"])
        return note
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_leftovers(config):
    """Delete temporaries and staging folders left by crashed runs; return their names.

    Call only while holding the backup lock, or a running backup's files go too.
    """
    removed = []
    for folder, pattern in LEFTOVER_GLOBS:
        for path in data_path(config, folder).glob(pattern):
            if path.is_dir() and not path.is_symlink():
                remove_tree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    if removed:
        log.info("removed leftovers of interrupted runs: %s", ", ".join(sorted(removed)))
    for path in old_media_folders(config):
        log.warning(
            "%s holds the media from before a restore that was interrupted; check the "
            "restore finished (or restore again), then delete it",
            path,
        )
    return removed


def old_media_folders(config):
    """Return media folders set aside by restores that did not get to delete them."""
    return sorted(data_path(config).glob("uploads.pre-restore-*"))
