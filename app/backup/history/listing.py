"""A site's history: its versions in the kept backups, and what differs from the site now.

Only the site indexes are read (``<id>.sites.json`` beside each backup, see
``app.backup.history.store``), never an archive: a backup holds a version of the
site when its index has a site of the same id, subdomain AND creation (a site
deleted since, whose subdomain another site took, is not this site's past).
Backups in a row whose version of the site is the same (the same rows, byte
for byte, and the same files) make one version, "unchanged from the oldest to
the newest"; a restore uses the newest of them that is here, else the newest.

Off-site-only backups count too: a verified-good copy in the local record of
off-site copies (``app.backup.offsite.known_good_copies``, no request to the
store) whose archive is gone here but whose index was kept. Such a version is
flagged ``offsite``: a restore fetches the copy first (``restore_version``).

What differs from now comes from the site's own rows alone: its live rows are
dumped the way a backup dumps them (one snapshot, only that site's rows) and
fingerprinted by the same indexer, then compared page by page and media item
by media item. ``added`` is what the site has now and the version has not,
``removed`` the reverse, ``changed`` what both have with other content.
"""

import tempfile
from dataclasses import dataclass, field

import sqlalchemy as sa

from app.backup.catalog import SUFFIX, backup_files, backup_path, normalize_id
from app.backup.errors import BackupError, BackupLocked, BackupNotFound, NotEnoughSpace
from app.backup.history.index import PARENTS, SiteEntry, SiteIndexer
from app.backup.history.store import index_backup, read_index
from app.backup.offsite import known_good_copies, offsite_enabled
from app.dumps import dump_database
from app.errors import NOT_FOUND
from app.extensions import db

PAGES, MEDIA = "pages", "media_items"


class VersionNotFound(BackupError):
    """The backup holds no version of the site (or the site is gone)."""

    exit_code = NOT_FOUND


@dataclass
class Version:
    """One version of a site: one backup, or several in a row that hold the same."""

    backup_id: str  # the newest backup holding it: the one a restore reads
    created_at: str
    oldest_id: str
    oldest_created_at: str
    backups: list[str]  # newest first
    entry: SiteEntry
    changes: dict = field(default_factory=dict)  # what differs from now (see ``diff``)
    offsite: bool = False  # ``backup_id`` is only off-site: a restore fetches it first

    @property
    def same_as_now(self) -> bool:
        """Whether the site's rows now are those of this version."""
        return bool(self.changes) and not has_changes(self.changes)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        entry = self.entry
        return {
            "backup_id": self.backup_id,
            "created_at": self.created_at,
            "oldest_id": self.oldest_id,
            "oldest_created_at": self.oldest_created_at,
            "backups": self.backups,
            "same_as_now": self.same_as_now,
            "rows": entry["rows"],
            "files": {"count": entry["files"]["count"], "bytes": entry["files"]["bytes"]},
            "changes": self.changes,
            "offsite": self.offsite,
        }


@dataclass
class History:
    """A site's versions, newest first, and the backups that could not be read for it."""

    site_id: int
    subdomain: str
    versions: list[Version]
    not_indexed: list[str]  # backups not indexed yet (a backup or restore held the lock)
    unreadable: dict[str, str]  # backup id -> why its index says it cannot be read

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {
            "site_id": self.site_id,
            "subdomain": self.subdomain,
            "versions": [v.to_dict() for v in self.versions],
            "not_indexed": self.not_indexed,
            "unreadable": self.unreadable,
        }

    def version(self, backup_id: str) -> Version:
        """Return the version backup ``backup_id`` holds; raise VersionNotFound if none."""
        for version in self.versions:
            if backup_id in version.backups:
                return version
        raise VersionNotFound(
            f"backup {backup_id} holds no version of the site {self.subdomain} "
            "(`flask site history` lists them)"
        )


def site_history(config, engine, site_id: int, subdomain: str, *, index_missing=True) -> History:
    """Return the history of the site ``site_id`` at ``subdomain`` (see the module).

    Backups without an index are indexed first when ``index_missing`` (a few
    seconds each, once), else listed in ``not_indexed``. Raises VersionNotFound
    if the site is gone.
    """
    now = live_entry(engine, site_id)
    if now is None or now["subdomain"] != subdomain:
        raise VersionNotFound(f"there is no site {subdomain} (any more)")
    found, not_indexed, unreadable = [], [], {}
    here = {path.name[: -len(SUFFIX)] for path in backup_files(config)}
    for backup_id in sorted(here | set(offsite_only(config, here)), reverse=True):
        offsite = backup_id not in here
        if offsite:  # its archive is not here to index: its kept index or nothing
            index = read_index(config, backup_id, site_id)
            if index is None:
                continue
        else:
            index = _index_of(config, backup_id, site_id, index_missing)
        if index is None:
            not_indexed.append(backup_id)
        elif index.get("error"):
            unreadable[backup_id] = str(index["error"])
        else:
            for entry in index["sites"]:
                if same_site(entry, now):
                    found.append((backup_id, str(index["created_at"]), entry, offsite))
    versions = _collapse(found)
    for version in versions:
        version.changes = diff(version.entry, now)
    return History(site_id, subdomain, versions, not_indexed, unreadable)


def offsite_only(config, here) -> list[str]:
    """Return the ids of the verified-good off-site copies not among ``here``, newest first.

    Read from the local record of off-site copies alone: no request to the store.
    """
    if not offsite_enabled(config):
        return []
    return [backup_id for backup_id in known_good_copies(config) if backup_id not in here]


def same_site(entry: SiteEntry, now: SiteEntry) -> bool:
    """Return whether a site in an index is the site ``now``: same id, subdomain and creation.

    A site created later under a deleted one's subdomain, even with its id
    (SQLite may give a freed id again), is another site.
    """
    keys = ("id", "subdomain", "created_at")
    return all(entry.get(key) == now.get(key) for key in keys)


def _index_of(config, backup_id, site_id, index_missing):
    """Return the index of ``backup_id`` with site ``site_id`` alone, made now if need be."""
    index = read_index(config, backup_id, site_id)
    if index is not None or not index_missing:
        return index
    try:
        index_backup(config, backup_id)
    except (BackupLocked, BackupNotFound, NotEnoughSpace):  # busy, gone, or no room: not now
        return None
    return read_index(config, backup_id, site_id)


def _collapse(found: list[tuple[str, str, SiteEntry, bool]]) -> list[Version]:
    """Return the versions of (backup id, time, entry, off-site only), newest first, runs merged.

    A version restores from the newest of its backups that is here, else the newest.
    """
    versions: list[Version] = []
    for backup_id, created_at, entry, offsite in found:
        last = versions[-1] if versions else None
        if last is not None and _same(last.entry, entry):
            last.oldest_id, last.oldest_created_at = backup_id, created_at
            last.backups.append(backup_id)
            if last.offsite and not offsite:
                last.backup_id, last.created_at, last.offsite = backup_id, created_at, False
            continue
        versions.append(
            Version(
                backup_id, created_at, backup_id, created_at, [backup_id], entry, offsite=offsite
            )
        )
    return versions


def _same(one: SiteEntry, other: SiteEntry) -> bool:
    return (one["rows_sha256"], one["files"]["sha256"]) == (
        other["rows_sha256"],
        other["files"]["sha256"],
    )


def diff(then: SiteEntry, now: SiteEntry) -> dict:
    """Return what differs between a version of a site (``then``) and the site ``now``."""
    pages = _compare(
        {p["id"]: p for p in then["pages"]},
        {p["id"]: p for p in now["pages"]},
        lambda p: {"id": p["id"], "slug": p["slug"], "title": p["title"]},
    )
    media = _compare(
        {(m["id"], m["stored_name"]): m for m in then["media"]},
        {(m["id"], m["stored_name"]): m for m in now["media"]},
        lambda m: {"id": m["id"], "name": m["name"], "size": m["size"]},
    )
    parts = {
        name: then["parts"].get(name) != now["parts"].get(name)
        for name in ("sites", "menu_items", "site_users")
    }
    return {
        "pages": pages,
        "media": media,
        "settings": parts["sites"],
        "menu": parts["menu_items"],
        "members": parts["site_users"],
    }


def has_changes(changes: dict) -> bool:
    """Return whether a ``diff`` found anything that differs."""
    lists = [changes[kind][what] for kind in ("pages", "media") for what in changes[kind]]
    return any(lists) or any(changes[part] for part in ("settings", "menu", "members"))


def _compare(then: dict, now: dict, shown) -> dict:
    """Return {added, removed, changed} between two {key: entry} maps, as ``shown`` shows them."""
    return {
        "added": [shown(now[k]) for k in now if k not in then],
        "removed": [shown(then[k]) for k in then if k not in now],
        "changed": [
            shown(now[k]) for k in now if k in then and now[k]["sha256"] != then[k]["sha256"]
        ],
    }


def live_entry(engine, site_id: int) -> SiteEntry | None:
    """Return the index entry of site ``site_id`` as it is now (None if there is none).

    Its rows are dumped as a backup dumps them, in one snapshot, but only that
    site's (into a temporary folder, removed after); its files are not read
    (``files.sha256`` is None).
    """
    tables = [t for t in db.metadata.sorted_tables if t.name in PARENTS]
    with SiteIndexer() as indexer, tempfile.TemporaryDirectory(prefix="site-history-") as folder:
        dump_database(
            engine,
            folder,
            tables,
            sink=lambda path: indexer.watch(path.stem.split("-", 1)[1]),
            where=lambda table: _of_site(table, site_id),
        )
        entries = indexer.entries()
    if not entries:
        return None
    (entry,) = entries
    entry["files"] = {
        "count": len(entry["media"]),
        "bytes": sum(m["size"] for m in entry["media"]),
        "sha256": None,
    }
    return entry


def _of_site(table: sa.Table, site_id: int):
    """Return the clause keeping the rows of ``table`` that belong to site ``site_id``.

    The id is written into the SQL (an int, so safe), not bound: on SQLite a
    statement without parameters takes the dump's fast way, straight from the cursor.
    """
    site: sa.ColumnElement[int] = sa.literal_column(str(int(site_id)))
    columns = table.c
    if table.name == "sites":
        return columns.id == site
    if table.name == "blocks":
        pages = db.metadata.tables[PAGES]
        return columns.page_id.in_(sa.select(pages.c.id).where(pages.c.site_id == site))
    if table.name == "media_tags":
        media = db.metadata.tables[MEDIA]
        return columns.media_id.in_(sa.select(media.c.id).where(media.c.site_id == site))
    return columns.site_id == site


def version_of(
    config, engine, site_id: int, subdomain: str, backup_id: str, *, index_missing=True
) -> Version:
    """Return the version of the site that backup ``backup_id`` holds, with its changes.

    Reads that backup's index alone (indexing it first if it has none and
    ``index_missing``; an off-site-only backup is never indexed here).
    Raises BackupNotFound, VersionNotFound.
    """
    backup_id, offsite = _where(config, backup_id)
    index = read_index(config, backup_id, site_id)
    if index is None and (offsite or not index_missing):
        raise VersionNotFound(f"backup {backup_id} is not indexed yet")
    if index is None:
        index = index_backup(config, backup_id)
    now = live_entry(engine, site_id)
    if now is None or now["subdomain"] != subdomain:
        raise VersionNotFound(f"there is no site {subdomain} (any more)")
    for entry in index["sites"]:
        if same_site(entry, now) and not index.get("error"):
            created = str(index["created_at"])
            version = Version(
                backup_id, created, backup_id, created, [backup_id], entry, offsite=offsite
            )
            version.changes = diff(entry, now)
            return version
    raise VersionNotFound(f"backup {backup_id} holds no version of the site {subdomain}")


def _where(config, backup_id: str) -> tuple[str, bool]:
    """Return (the id of backup ``backup_id``, whether only its off-site copy holds it).

    Raises BackupNotFound when it is neither here nor a verified-good off-site copy.
    """
    try:
        return backup_path(config, backup_id).name[: -len(SUFFIX)], False
    except BackupNotFound:
        wanted = normalize_id(backup_id)
        if wanted in offsite_only(config, ()):
            return wanted, True
        raise
