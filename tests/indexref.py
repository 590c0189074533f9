"""The site index as it was made in memory: the reference the one kept in SQLite must match.

A copy of the former ``app.backup.history.index`` (its indexer keeps a running
SHA-256 per page and a tuple per media item in memory) and of the former
``write_index``'s bytes; the property tests feed both the same dump lines.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, TypedDict

from app.backup.errors import CorruptArchive

FORMAT = "stinkykitty-site-index"
VERSION = 1
# The tables of a site, and the column tying a row to its parent (site, page or media item).
PARENTS = {
    "sites": None,
    "site_users": "site_id",
    "menu_items": "site_id",
    "media_items": "site_id",
    "pages": "site_id",
    "blocks": "page_id",
    "media_tags": "media_id",
}
UPLOADS = "uploads/"


class PageEntry(TypedDict):
    """One page of a site in the index: its id, slug, title and SHA-256 (with its blocks)."""

    id: int
    slug: str
    title: str
    sha256: str


class MediaEntry(TypedDict):
    """One media item: id, stored file name, the uploader's file name, size, SHA-256 (with tags)."""

    id: int
    stored_name: str
    name: str
    size: int
    sha256: str


class FilesEntry(TypedDict):
    """A site's media files in the archive: how many, their bytes, one SHA-256 of them all."""

    count: int
    bytes: int
    sha256: str | None  # None when not known (the live site: its files are not read)


class SiteEntry(TypedDict):
    """Everything the index says of one site."""

    id: int
    subdomain: str
    title: str
    created_at: str  # the site's own (so a later site given the same id is told apart)
    rows: dict[str, int]  # table -> rows of the site
    rows_sha256: str
    parts: dict[str, str]  # "sites", "site_users", "menu_items" -> SHA-256 of those rows
    files: FilesEntry
    pages: list[PageEntry]
    media: list[MediaEntry]


class _Site:
    def __init__(self, record: dict, line: bytes) -> None:
        self.subdomain = str(record.get("subdomain"))
        self.title = str(record.get("title") or "")
        self.created_at = str(record.get("created_at"))
        self.rows = {table: 0 for table in PARENTS}
        self.rows["sites"] = 1
        self.parts = {
            "sites": hashlib.sha256(line),
            "site_users": hashlib.sha256(),
            "menu_items": hashlib.sha256(),
        }
        self.pages: list[int] = []
        self.media: list[int] = []


class SiteIndexer:
    """Fingerprints of every site, fed the dump's lines table by table (see the module)."""

    def __init__(self) -> None:
        self.sites: dict[int, _Site] = {}
        self._page_site: dict[int, int] = {}
        self._page_meta: dict[int, tuple[str, str]] = {}
        # per media item, one tuple (a hundred thousand of them on a large server): its site,
        # stored name, the uploader's name, size and the SHA-256 of its line (its tags apart)
        self._media: dict[int, tuple[int, str, str, int, bytes]] = {}
        self._digests: dict[tuple[str, int], Any] = {}  # running SHA-256 per page
        self._tags: dict[int, int] = {}  # per media item: the sum of its tags' SHA-256
        self._rest: dict[str, bytes] = {}

    def watch(self, table: str) -> Callable[[bytes], None] | None:
        """Return the function fed ``table``'s dump as it is written (None: not a site table)."""
        if table not in PARENTS:
            return None
        self._rest[table] = b""

        def feed(data: bytes) -> None:
            lines = (self._rest[table] + data).split(b"\n")
            self._rest[table] = lines.pop()
            self._lines(table, lines)

        return feed

    def read_file(self, table: str, path: object) -> None:
        """Feed the dump file at ``path`` of ``table`` (an older backup's, or the live rows')."""
        feed = self.watch(table)
        if feed is None:
            return
        with open(path, "rb") as dump:  # type: ignore[call-overload]
            while chunk := dump.read(1 << 20):
                feed(chunk)
        if self._rest[table]:
            raise CorruptArchive(f"the dump of {table} ends in the middle of a line")

    def _lines(self, table: str, lines: Iterable[bytes]) -> None:
        fk = PARENTS[table]
        for line in lines:
            if not line:
                continue
            if fk is None:  # the sites themselves
                record = _record(table, line)
                self.sites[_int(record, "id", table)] = _Site(record, line + b"\n")
                continue
            row_id, parent = _ids(line, fk)
            if row_id is None:
                record = _record(table, line)
                row_id, parent = _int(record, "id", table), record.get(fk)
            if isinstance(parent, int) and not isinstance(parent, bool):
                self._row(table, row_id, parent, line + b"\n")

    def _row(self, table: str, row_id: int, parent: int, line: bytes) -> None:
        """Count and fingerprint one row whose parent (site, page or media item) is ``parent``."""
        if table == "blocks":
            part, site_id = ("page", parent), self._page_site.get(parent)
        elif table == "media_tags":
            media = self._media.get(parent)
            part, site_id = ("media", parent), media[0] if media else None
        else:
            part, site_id = None, parent
        site = self.sites.get(site_id) if site_id is not None else None
        if site is None:
            return  # a row of no site in this dump
        site.rows[table] += 1
        if table == "pages":
            record = _record(table, line)
            self._digests[("page", row_id)] = hashlib.sha256(line)
            site.pages.append(row_id)
            self._page_site[row_id] = parent
            self._page_meta[row_id] = (str(record.get("slug")), str(record.get("title")))
        elif table == "media_items":
            record = _record(table, line)
            site.media.append(row_id)
            size = record.get("size")
            self._media[row_id] = (
                parent,
                str(record.get("stored_name")),
                str(record.get("original_name")),
                size if isinstance(size, int) else 0,
                hashlib.sha256(line).digest(),
            )
        elif table == "media_tags":  # a set: restores give tags new ids, in another order
            self._tags[parent] = (self._tags.get(parent, 0) + _set_member(line)) % _MODULUS
        elif part is not None:
            self._digests[part].update(line)
        else:
            site.parts[table].update(line)

    def _media_digest(self, media_id: int) -> str:
        tags = self._tags.get(media_id, 0).to_bytes(32, "big")
        return hashlib.sha256(self._media[media_id][4] + tags).hexdigest()

    def entries(self, files: dict[int, FilesEntry] | None = None) -> list[SiteEntry]:
        """Return the index of every site, by id; ``files`` gives each site's media files."""
        files = files or {}
        return [self._entry(site_id, files.get(site_id)) for site_id in sorted(self.sites)]

    def _entry(self, site_id: int, files: FilesEntry | None) -> SiteEntry:
        site = self.sites[site_id]
        pages: list[PageEntry] = [
            {
                "id": page_id,
                "slug": self._page_meta[page_id][0],
                "title": self._page_meta[page_id][1],
                "sha256": self._digests[("page", page_id)].hexdigest(),
            }
            for page_id in site.pages
        ]
        media: list[MediaEntry] = [
            {
                "id": media_id,
                "stored_name": self._media[media_id][1],
                "name": self._media[media_id][2],
                "size": self._media[media_id][3],
                "sha256": self._media_digest(media_id),
            }
            for media_id in site.media
        ]
        parts = {name: digest.hexdigest() for name, digest in site.parts.items()}
        return {
            "id": site_id,
            "subdomain": site.subdomain,
            "title": site.title,
            "created_at": site.created_at,
            "rows": dict(site.rows),
            "rows_sha256": rows_digest(parts, pages, media),
            "parts": parts,
            "files": files or {"count": 0, "bytes": 0, "sha256": files_digest([])},
            "pages": pages,
            "media": media,
        }


def rows_digest(parts: dict[str, str], pages: list[PageEntry], media: list[MediaEntry]) -> str:
    """Return the SHA-256 of a site's rows from the fingerprints of its parts."""
    whole = {
        "parts": parts,
        "pages": sorted([p["id"], p["sha256"]] for p in pages),
        "media": sorted([m["id"], m["sha256"]] for m in media),
    }
    return hashlib.sha256(json.dumps(whole, sort_keys=True).encode()).hexdigest()


def files_digest(files: Iterable[tuple[str, int, str]]) -> str:
    """Return the SHA-256 of a site's files from (name in its folder, size, SHA-256), any order."""
    digest = hashlib.sha256()
    for name, size, sha256 in sorted(files):
        digest.update(f"{name}\0{size}\0{sha256}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def site_files(sizes: dict[str, int], checksums: dict[str, str]) -> dict[int, FilesEntry]:
    """Return each site's FilesEntry from an archive's member sizes and SHA-256s."""
    found: dict[int, list[tuple[str, int, str]]] = {}
    for path, size in sizes.items():
        if not path.startswith(UPLOADS):
            continue
        folder, _, name = path[len(UPLOADS) :].partition("/")
        if not folder.isdigit() or not name or path not in checksums:
            continue
        found.setdefault(int(folder), []).append((name, size, checksums[path]))
    return {
        site_id: {
            "count": len(files),
            "bytes": sum(size for _name, size, _sha in files),
            "sha256": files_digest(files),
        }
        for site_id, files in found.items()
    }


_MODULUS = 1 << 256


def _set_member(line: bytes) -> int:
    """Return the SHA-256 of a tag's line without its own id, as a number to add up."""
    body = line[line.find(b",") + 1 :] if line.startswith(b'{"id":') else line
    return int.from_bytes(hashlib.sha256(body).digest(), "big")


# A dump line that starts with its id and its parent's, both plain integers (as ours do).
_HEADS = {
    fk: re.compile(
        rb'\{"id":(0|-?[1-9][0-9]{0,18}),"' + fk.encode() + rb'":(0|-?[1-9][0-9]{0,18})[,}]'
    )
    for fk in {fk for fk in PARENTS.values() if fk}
}


def _ids(line: bytes, fk: str) -> tuple[int | None, int | None]:
    """Return (id, parent id) read from a dump line that starts with both, else (None, None)."""
    found = _HEADS[fk].match(line)
    if found is None:  # another column order, or a value to parse in full
        return None, None
    return int(found[1]), int(found[2])


def _record(table: str, line: bytes) -> dict:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise CorruptArchive(f"the dump of {table} holds a line that is not JSON") from None
    if not isinstance(record, dict):
        raise CorruptArchive(f"the dump of {table} holds a line that is not a row")
    return record


def _int(record: dict, name: str, table: str) -> int:
    value = record.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CorruptArchive(f"the dump of {table} holds a row without an integer {name}")
    return value


def index_bytes(index: dict) -> bytes:
    """Return the bytes the former ``write_index`` wrote for ``index`` (its sites a list)."""
    head = {key: value for key, value in index.items() if key != "sites"}
    return b"".join(
        json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        for record in (head, *index["sites"])
    )
