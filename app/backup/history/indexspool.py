"""What the site index keeps of pages, blocks, media items, tags and files, in SQLite.

A large server has tens of thousands of pages, a million blocks and a hundred
thousand media items and files: as Python objects (a running SHA-256 per page,
a tuple per media item, a dict entry per file) they cost tens of MiB for the
whole backup. The spool keeps them in SQLite's private temporary database,
with a small page cache (its memory, whatever its rows), inserted in batches,
and hands back one site's at a time.

A page's SHA-256 is that of its line then its blocks' lines, in dump order. A
running hash cannot be stored, and a page's blocks are not together in the
dump (blocks come by id, after all pages), so the block lines are kept as
rows (the lines of one page that come one after another as one row) and,
once all are in, every page is hashed in one pass over the blocks sorted by
page (SQLite sorts on disk): its line, then its blocks' in the order they
came. The tags of a media item are a set whose fingerprint is the sum of
their SHA-256 (mod 2**256): sums are added up in a small dict and written out
when it fills, each media item's parts added again when read. Files come
back sorted as Python sorts their names (``name_key``).

Pages and media items are kept by id with the last line that came for that id
(as the former dicts did), and separately in the order each site listed them.
Tables are expected in foreign-key order (pages before blocks, media items
before tags): a block or tag counts for the site its parent has at the end.
Ids beyond SQLite's 64 bits are kept as their digits (text), names as UTF-8
bytes with ``surrogatepass`` (SQLite's text would refuse lone surrogates).
"""

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from typing import cast

from app.backup.mediaspool import name_key
from app.errors import BackupError

BATCH = 2000  # rows held before they are inserted together
BATCH_BYTES = 1 << 20  # or lines of pages and blocks held, whichever comes first
RUN_BYTES = 1 << 16  # the block lines of one page kept as one row, at most
CACHE_KIB = 4096  # SQLite's page cache: the spool's memory, whatever its rows
MODULUS = 1 << 256

_SCHEMA = """
CREATE TABLE pages (id PRIMARY KEY, site, slug BLOB, title BLOB, line BLOB);
CREATE TABLE site_pages (n INTEGER PRIMARY KEY, site, id);
CREATE TABLE blocks (n INTEGER PRIMARY KEY, page, count INTEGER, lines BLOB);
CREATE TABLE page_sums (id PRIMARY KEY, sha BLOB, blocks INTEGER);
CREATE TABLE media (id PRIMARY KEY, site, stored BLOB, name BLOB, size, sha BLOB);
CREATE TABLE site_media (n INTEGER PRIMARY KEY, site, id);
CREATE TABLE tags (n INTEGER PRIMARY KEY, media, count INTEGER, total BLOB);
CREATE TABLE files (site, key BLOB, size, sha BLOB);
"""
_INSERTS = {
    "pages": "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?)",
    "site_pages": "INSERT INTO site_pages (site, id) VALUES (?, ?)",
    "blocks": "INSERT INTO blocks (page, count, lines) VALUES (?, ?, ?)",
    "media": "INSERT OR REPLACE INTO media VALUES (?, ?, ?, ?, ?, ?)",
    "site_media": "INSERT INTO site_media (site, id) VALUES (?, ?)",
    "tags": "INSERT INTO tags (media, count, total) VALUES (?, ?, ?)",
}
_INSERT_FILES = "INSERT INTO files VALUES (?, ?, ?, ?)"
# Made once the rows are in (kept up to date if more come after).
_INDEXES = """
CREATE INDEX IF NOT EXISTS site_pages_site ON site_pages (site);
CREATE INDEX IF NOT EXISTS pages_site ON pages (site);
CREATE INDEX IF NOT EXISTS site_media_site ON site_media (site);
CREATE INDEX IF NOT EXISTS media_site ON media (site);
CREATE INDEX IF NOT EXISTS tags_media ON tags (media);
CREATE INDEX IF NOT EXISTS files_site ON files (site, key, size, sha);
"""
_INT64 = range(-(1 << 63), 1 << 63)


class IndexSpoolFailed(BackupError, OSError):
    """The index's temporary database failed (its folder full?): the index cannot be made.

    An OSError, as a full disk is: the index is a cache, and a backup logs this
    and goes on; the history indexes that backup from its archive later.
    """


class IndexSpool:
    """Pages, blocks, media items, tags and files of the sites indexed (see the module).

    A database error while rows come in is kept, not raised (the rows come from
    the thread that dumps the tables, and the backup must not fail for its
    index): the rows after it are dropped, and reading raises IndexSpoolFailed.
    """

    def __init__(self) -> None:
        # Filled by the thread that dumps the tables, read by the one that writes the
        # index: one at a time, each under the lock.
        self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._pending: dict[str, list[tuple]] = {table: [] for table in _INSERTS}
        self._held = 0
        self._held_bytes = 0
        self._tags: dict[int, list[int]] = {}  # media id -> [tags, sum of their SHA-256]
        self._files: list[tuple] = []  # held apart: see add_file
        # The block lines of one page that came one after the other, kept as one row.
        self._run: list[bytes] = []
        self._run_page: int | str | None = None
        self._run_bytes = 0
        self._hashed = True  # the pages' SHA-256 are those of the rows in
        self._failure: sqlite3.Error | None = None

    def add_page(self, page_id: int, site_id: int, slug: str, title: str, line: bytes) -> None:
        """Keep a page's line (it replaces an earlier one of the same id), listed in its site."""
        key = _key(page_id)
        self._hashed = False
        self._add("pages", (key, _key(site_id), _text(slug), _text(title), line), len(line))
        self._add("site_pages", (_key(site_id), key))

    def add_block(self, page_id: int, line: bytes) -> None:
        """Keep a block's line, to be hashed after its page's line and its earlier blocks'."""
        key = _key(page_id)
        if key != self._run_page or self._run_bytes >= RUN_BYTES:
            self._end_run()
            self._run_page = key
        self._run.append(line)
        self._run_bytes += len(line)

    def _end_run(self) -> None:
        if self._run:
            self._hashed = False
            lines = b"".join(self._run)
            self._add("blocks", (self._run_page, len(self._run), lines), len(lines))
            self._run.clear()
            self._run_bytes = 0

    def add_media(
        self, media_id: int, site_id: int, stored: str, name: str, size: int, sha: bytes
    ) -> None:
        """Keep a media item (it replaces an earlier one of the same id), listed in its site."""
        key = _key(media_id)
        self._add("media", (key, _key(site_id), _text(stored), _text(name), _size(size), sha))
        self._add("site_media", (_key(site_id), key))

    def add_tag(self, media_id: int, member: int) -> None:
        """Count a tag of media item ``media_id`` and add ``member`` to the sum of its tags."""
        tally = self._tags.get(media_id)
        if tally is None:
            tally = self._tags[media_id] = [0, 0]
        tally[0] += 1
        tally[1] += member
        if len(self._tags) >= BATCH:
            self._flush()

    def add_file(self, site_id: int, name: str, size: int, sha256: str) -> None:
        """Keep one file of site ``site_id``'s folder: its name there, size and SHA-256.

        Files are held apart from the dump's rows: they may come from another
        thread (the archive's writer) while the dump is still being fed.
        """
        self._files.append((_key(site_id), name_key(name), _size(size), name_key(sha256)))
        if len(self._files) >= BATCH:
            self._flush_files()

    def _flush_files(self) -> None:
        with self._lock:
            try:
                if self._failure is None and self._files:
                    self._db.executemany(_INSERT_FILES, self._files)
            except sqlite3.Error as exc:
                self._failure = exc
            finally:
                self._files.clear()

    def forget_files(self) -> None:
        """Drop every file kept (an archive written again gives them all again)."""
        self._files.clear()
        with self._reading():
            self._db.execute("DELETE FROM files")

    def _add(self, table: str, row: tuple, size: int = 0) -> None:
        self._pending[table].append(row)
        self._held += 1
        self._held_bytes += size
        if self._held >= BATCH or self._held_bytes >= BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            try:
                if self._failure is None:
                    self._insert()
            except sqlite3.Error as exc:
                self._failure = exc
                with contextlib.suppress(sqlite3.Error):
                    self._db.rollback()
            finally:
                for rows in self._pending.values():
                    rows.clear()
                self._tags.clear()
                self._held = self._held_bytes = 0

    def _insert(self) -> None:
        self._db.execute("BEGIN")
        for table, rows in self._pending.items():
            if rows:
                self._db.executemany(_INSERTS[table], rows)
        if self._tags:
            self._db.executemany(
                _INSERTS["tags"],
                (
                    (_key(media), count, (total % MODULUS).to_bytes(32, "big"))
                    for media, (count, total) in self._tags.items()
                ),
            )
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Hold the lock; raise IndexSpoolFailed for a database error, now or while filled."""
        with self._lock:
            if self._failure is not None:
                raise IndexSpoolFailed(_failed(self._failure)) from self._failure
            try:
                yield
            except sqlite3.Error as exc:
                self._failure = exc
                raise IndexSpoolFailed(_failed(exc)) from exc

    def finish(self) -> None:
        """Insert what is held, index the tables and hash the pages, before the sites are read."""
        self._end_run()
        self._flush()
        self._flush_files()
        with self._reading():
            self._db.executescript(_INDEXES)
            if not self._hashed:
                self._hash_pages()
                self._hashed = True

    def _hash_pages(self) -> None:
        """Keep each page's SHA-256 (its line, then its blocks') and its blocks' count.

        One pass over the blocks sorted by page (SQLite sorts on disk), in the
        order they came within a page: not a lookup per block.
        """
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM page_sums")
        rows = self._db.execute("SELECT page, count, lines FROM blocks ORDER BY page, n")
        page: object = None
        digest = None
        count = 0
        for block_page, block_count, lines in rows:  # a row at a time: rows are up to RUN_BYTES
            if block_page != page or digest is None:
                self._keep_sum(page, digest, count)
                page, count = block_page, 0
                found = self._db.execute("SELECT line FROM pages WHERE id = ?", (page,))
                line = found.fetchone()
                digest = hashlib.sha256(line[0]) if line is not None else None
            if digest is not None:
                digest.update(lines)
                count += block_count
        self._keep_sum(page, digest, count)
        self._db.execute("COMMIT")

    def _keep_sum(self, page: object, digest: "hashlib._Hash | None", count: int) -> None:
        if digest is not None:
            self._db.execute(
                "INSERT INTO page_sums VALUES (?, ?, ?)", (page, digest.digest(), count)
            )

    def pages(self, site_id: int) -> list[tuple[int, str, str, str]]:
        """Return (id, slug, title, SHA-256 with its blocks) of each page the site listed."""
        found = []
        with self._reading():
            listed = self._db.execute(
                "SELECT p.id, p.slug, p.title, d.sha, CASE WHEN d.sha IS NULL THEN p.line END"
                " FROM site_pages s JOIN pages p ON p.id = s.id"
                " LEFT JOIN page_sums d ON d.id = s.id"
                " WHERE s.site = ? ORDER BY s.n",
                (_key(site_id),),
            )
            for page_id, slug, title, sha, line in listed:  # a page without blocks: its line's
                sha256 = sha.hex() if sha is not None else hashlib.sha256(line).hexdigest()
                found.append((_int(page_id), _str(slug), _str(title), sha256))
        return found

    def media(self, site_id: int) -> list[tuple[int, str, str, int, bytes, int]]:
        """Return (id, stored name, name, size, line's SHA-256, sum of tags) of the site's media."""
        found: list[tuple[int, str, str, int, bytes, int]] = []
        last = None
        with self._reading():
            listed = self._db.execute(
                "SELECT s.n, m.id, m.stored, m.name, m.size, m.sha, t.total"
                " FROM site_media s JOIN media m ON m.id = s.id LEFT JOIN tags t ON t.media = s.id"
                " WHERE s.site = ? ORDER BY s.n, t.n",
                (_key(site_id),),
            )
            for n, media_id, stored, name, size, sha, total in listed:
                tags = int.from_bytes(total, "big") if total is not None else 0
                if n == last:  # another part of the same item's tags
                    item = found[-1]
                    found[-1] = (*item[:5], (item[5] + tags) % MODULUS)
                    continue
                last = n
                found.append((_int(media_id), _str(stored), _str(name), _unsize(size), sha, tags))
        return found

    def counts(self, site_id: int) -> tuple[int, int]:
        """Return the blocks and the media tags of site ``site_id`` (by their parent's site)."""
        with self._reading():
            (blocks,) = self._db.execute(
                "SELECT coalesce(sum(d.blocks), 0) FROM pages p JOIN page_sums d ON d.id = p.id"
                " WHERE p.site = ?",
                (_key(site_id),),
            ).fetchone()
            (tags,) = self._db.execute(
                "SELECT coalesce(sum(t.count), 0) FROM media m JOIN tags t ON t.media = m.id"
                " WHERE m.site = ?",
                (_key(site_id),),
            ).fetchone()
        return blocks, tags

    def files(self, site_id: int) -> Iterator[tuple[str, int, str]]:
        """Yield (name, size, SHA-256) of the site's files, sorted as ``sorted()`` sorts them."""
        with self._reading():
            rows = self._db.execute(
                "SELECT key, size, sha FROM files WHERE site = ? ORDER BY key, size, sha",
                (_key(site_id),),
            )
        while True:
            with self._reading():
                batch = rows.fetchmany(BATCH)
            if not batch:
                return
            for key, size, sha in batch:
                yield _name(key), _unsize(size), _name(sha)

    def close(self) -> None:
        """Close the database (its temporary file goes with it)."""
        with self._lock:
            self._db.close()


def _failed(exc: sqlite3.Error) -> str:
    return f"the site index's temporary database failed ({exc}); is its folder full?"


def _key(value: int) -> int | str:
    """Return an id as SQLite keeps it: an integer, or its digits beyond 64 bits."""
    return value if value in _INT64 else str(value)


def _int(value: int | str) -> int:
    return int(value) if isinstance(value, str) else value


def _size(size: object) -> object:
    """Return a size as kept: an integer, or its JSON (true, or beyond 64 bits)."""
    return size if type(size) is int and size in _INT64 else json.dumps(size)


def _unsize(size: object) -> int:
    # an int, or a bool (a JSON true kept as it came), both ints to Python
    return cast(int, json.loads(size) if isinstance(size, str) else size)


def _text(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _str(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def _name(key: bytes) -> str:
    return key.decode("utf-32-be", "surrogatepass")
