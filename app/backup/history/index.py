"""The per-site index of a system backup: what each site held, made from the dump as it is written.

For each site of a backup it records its id, subdomain and title, its row
counts, its media files (count, bytes) and fingerprints: one SHA-256 per page
(the page's dump line and its blocks' lines), per media item (its line and the
set of its tags: a tag's own id is left out, since an export does not keep it),
for the site row, its memberships and its menu, a SHA-256 of all
of them (``rows_sha256``) and one of its files (``files_sha256``: each file's
name, size and SHA-256, as the archive's ``SHA256SUMS`` has them). Listing a
site's history reads these and no archive (see ``app.backup.history.listing``).

``SiteIndexer`` is fed the dump's bytes as each table's file is written, in
foreign-key order (sites before pages before blocks, media before tags), so
nothing is read twice, then the archive's files (``add_file``). It keeps in
memory only each site's names, row counts and the running SHA-256 of its
three parts; pages, block lines, media items, tag sums and files go to a
temporary SQLite database (``app.backup.history.indexspool``), so its memory
stays flat however many pages, blocks, media items and files there are (the
database's temporary file holds about the blocks' dump). Its entries come one
site at a time (``iter_entries``), and ``write_index`` writes each as it
comes: a backup holds one site's entry at a time, never the whole index.
The same indexer reads the dump files of an older backup (lazily, once)
and the live rows of one site (``app.backup.history.listing``): the same bytes give
the same fingerprints, so "unchanged" means the same rows, byte for byte.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TypedDict

from app.backup.errors import CorruptArchive
from app.backup.history.indexspool import IndexSpool

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
    """What the indexer keeps in memory of one site: its names, row counts and part digests."""

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


class SiteIndexer:
    """Fingerprints of every site, fed the dump's lines table by table (see the module).

    Close it (or use it as a context manager) to drop its temporary database.
    """

    def __init__(self) -> None:
        self.sites: dict[int, _Site] = {}
        self._spool = IndexSpool()
        self._rest: dict[str, bytes] = {}

    def __enter__(self) -> "SiteIndexer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the indexer's temporary database (its entries cannot be read after)."""
        self._spool.close()

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

    def add_file(self, path: str, size: int, sha256: str) -> None:
        """Add one archive member to its site's files (only ``uploads/<site id>/<name>``)."""
        found = _site_file(path)
        if found is not None:
            self._spool.add_file(found[0], found[1], size, sha256)

    def forget_files(self) -> None:
        """Drop every file added (before the archive's members are added again)."""
        self._spool.forget_files()

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
        if table == "blocks":  # counted for its page's site when the entries are made
            self._spool.add_block(parent, line)
            return
        if table == "media_tags":  # a set: restores give tags new ids, in another order
            self._spool.add_tag(parent, _set_member(line))
            return
        site = self.sites.get(parent)
        if site is None:
            return  # a row of no site in this dump
        site.rows[table] += 1
        if table == "pages":
            record = _record(table, line)
            slug, title = str(record.get("slug")), str(record.get("title"))
            self._spool.add_page(row_id, parent, slug, title, line)
        elif table == "media_items":
            record = _record(table, line)
            size = record.get("size")
            self._spool.add_media(
                row_id,
                parent,
                str(record.get("stored_name")),
                str(record.get("original_name")),
                size if isinstance(size, int) else 0,
                hashlib.sha256(line).digest(),
            )
        else:
            site.parts[table].update(line)

    def entries(self, files: dict[int, FilesEntry] | None = None) -> list[SiteEntry]:
        """Return the index of every site, by id (see ``iter_entries``)."""
        return list(self.iter_entries(files))

    def iter_entries(self, files: dict[int, FilesEntry] | None = None) -> Iterator[SiteEntry]:
        """Yield the index of every site, by id, one site at a time.

        Each site's files are those given in ``files`` (none when it has no
        entry there) or, without ``files``, those added with ``add_file``.
        Call it once the dump and the files are all in (again if need be).
        Raises IndexSpoolFailed, an OSError, if the temporary database failed.
        """
        self._spool.finish()
        for site_id in sorted(self.sites):
            if files is None:
                found = self._files(site_id)
            else:
                found = files.get(site_id) or _files_entry(iter(()))
            yield self._entry(site_id, found)

    def _files(self, site_id: int) -> FilesEntry:
        return _files_entry(self._spool.files(site_id))

    def _entry(self, site_id: int, files: FilesEntry) -> SiteEntry:
        site = self.sites[site_id]
        pages: list[PageEntry] = [
            {"id": page_id, "slug": slug, "title": title, "sha256": sha256}
            for page_id, slug, title, sha256 in self._spool.pages(site_id)
        ]
        media: list[MediaEntry] = [
            {
                "id": media_id,
                "stored_name": stored,
                "name": name,
                "size": size,
                "sha256": hashlib.sha256(line_sha + tags.to_bytes(32, "big")).hexdigest(),
            }
            for media_id, stored, name, size, line_sha, tags in self._spool.media(site_id)
        ]
        rows = dict(site.rows)
        rows["blocks"], rows["media_tags"] = self._spool.counts(site_id)
        parts = {name: digest.hexdigest() for name, digest in site.parts.items()}
        return {
            "id": site_id,
            "subdomain": site.subdomain,
            "title": site.title,
            "created_at": site.created_at,
            "rows": rows,
            "rows_sha256": rows_digest(parts, pages, media),
            "parts": parts,
            "files": files,
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
    return _files_totals(iter(sorted(files)))[2]


def site_files(sizes: dict[str, int], checksums: dict[str, str]) -> dict[int, FilesEntry]:
    """Return each site's FilesEntry from an archive's member sizes and SHA-256s."""
    found: dict[int, list[tuple[str, int, str]]] = {}
    for path, size in sizes.items():
        site_file = _site_file(path)
        if site_file is None or path not in checksums:
            continue
        found.setdefault(site_file[0], []).append((site_file[1], size, checksums[path]))
    return {site_id: _files_entry(iter(sorted(files))) for site_id, files in found.items()}


def _site_file(path: str) -> tuple[int, str] | None:
    """Return (site id, name in its folder) of a member under ``uploads/<site id>/``, else None."""
    if not path.startswith(UPLOADS):
        return None
    folder, _, name = path[len(UPLOADS) :].partition("/")
    if not folder.isdigit() or not name:
        return None
    return int(folder), name


def _files_entry(files: Iterator[tuple[str, int, str]]) -> FilesEntry:
    """Return the FilesEntry of a site's files, given sorted (name, size, SHA-256)."""
    count, total, sha256 = _files_totals(files)
    return {"count": count, "bytes": total, "sha256": sha256}


def _files_totals(files: Iterator[tuple[str, int, str]]) -> tuple[int, int, str]:
    """Return the count, bytes and SHA-256 of files given sorted (name, size, SHA-256)."""
    count = total = 0
    digest = hashlib.sha256()
    for name, size, sha256 in files:
        count += 1
        total += size
        digest.update(f"{name}\0{size}\0{sha256}\n".encode("utf-8", "surrogateescape"))
    return count, total, digest.hexdigest()


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
