"""What the site index keeps of pages, blocks, media items, tags and files, in SQLite.

A large server has tens of thousands of pages, a million blocks and a hundred
thousand media items and files: as Python objects (a running SHA-256 per page,
a tuple per media item, a dict entry per file) they cost tens of MiB for the
whole backup. The spool keeps them in SQLite's private temporary database,
with a small page cache (its memory, whatever its rows), inserted in batches,
and hands back one site's at a time.

A page's SHA-256 is that of its line then its blocks' lines, in dump order. A
running hash cannot be stored, so it is kept open in memory for the
``OPEN_PAGES`` pages whose blocks came last (a page's blocks mostly come
together) and sealed into ``page_sums`` when it falls out; each run of block
lines (the lines of one page that come one after another) is also appended to
a temporary file, so that a page whose blocks come again after it was sealed
is hashed again from its runs (``app.backup.history.pagesums``). The tags of a
media item are a set whose fingerprint is the sum of their SHA-256 (mod
2**256): sums are added up in a small dict and written out when it fills, each
media item's parts added again when read. Files come
back sorted as Python sorts their names (``name_key``).

Pages and media items are kept by id with the last line that came for that id
(as the former dicts did), and separately in the order each site listed them.
Tables are expected in foreign-key order (pages before blocks, media items
before tags): a block or tag counts for the site its parent has at the end.
How ids, sizes and names are kept is ``app.backup.history.indexschema``'s.
"""

import contextlib
import hashlib
import sqlite3
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator

from app.backup.history.indexschema import (
    INDEXES,
    INSERT_FILES,
    INSERTS,
    SCHEMA,
    id_key,
    id_of,
    name_of,
    size_key,
    size_of,
    text_key,
    text_of,
)
from app.backup.history.pagesums import rehash_broken
from app.backup.mediaspool import name_key
from app.errors import BackupError

BATCH = 2000  # rows held before they are inserted together
BATCH_BYTES = 1 << 20  # or lines of pages and blocks held, whichever comes first
RUN_BYTES = 1 << 16  # the block lines of one page kept as one row, at most
OPEN_PAGES = 1024  # pages whose SHA-256 is still being made, at most (the others are sealed)
CACHE_KIB = 4096  # SQLite's page cache: the spool's memory, whatever its rows
MODULUS = 1 << 256


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
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._pending: dict[str, list[tuple]] = {table: [] for table in INSERTS}
        self._held = 0
        self._held_bytes = 0
        self._tags: dict[int, list[int]] = {}  # media id -> [tags, sum of their SHA-256]
        self._files: list[tuple] = []  # held apart: see add_file
        # The block lines of one page that came one after the other, kept as one row.
        self._run: list[bytes] = []
        self._run_page: int | str | None = None
        self._run_bytes = 0
        self._runs = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._runs_size = 0
        # page -> [its running SHA-256 (None: a page not listed), blocks]: the pages whose
        # blocks came last, in that order; the others are sealed into page_sums.
        self._open: OrderedDict[int | str, list] = OrderedDict()
        self._sealed: dict[int | str, tuple[bytes | None, int]] = {}  # held, not yet inserted
        self._blocks_came = False
        self._rehash = False  # a page came after blocks: every page is hashed again, in finish
        self._failure: Exception | None = None  # a database (or runs file) error, kept

    def add_page(self, page_id: int, site_id: int, slug: str, title: str, line: bytes) -> None:
        """Keep a page's line (it replaces an earlier one of the same id), listed in its site."""
        key = id_key(page_id)
        self._rehash = self._rehash or self._blocks_came
        self._add("pages", (key, id_key(site_id), text_key(slug), text_key(title), line), len(line))
        self._add("site_pages", (id_key(site_id), key))

    def add_block(self, page_id: int, line: bytes) -> None:
        """Keep a block's line, to be hashed after its page's line and its earlier blocks'."""
        key = id_key(page_id)
        if key != self._run_page or self._run_bytes >= RUN_BYTES:
            self._end_run()
            self._run_page = key
        self._run.append(line)
        self._run_bytes += len(line)

    def _end_run(self) -> None:
        """Hash the run of block lines that just ended into its page's SHA-256, and keep it.

        The run's lines go to a temporary file (its place in the ``runs`` table):
        a page whose SHA-256 was sealed before another of its runs came is
        hashed again from there, in ``finish``.
        """
        if not self._run:
            return
        page = self._run_page
        assert page is not None
        lines = b"".join(self._run)
        try:
            self._runs.write(lines)
        except OSError as exc:  # kept, not raised into the dump (see the class)
            self._failure = self._failure or exc
        self._add("runs", (page, len(self._run), self._runs_size, len(lines)))
        self._runs_size += len(lines)
        state = self._open.get(page)
        if state is None:
            state = self._open_page(page)
        else:
            self._open.move_to_end(page)
        if state[0] is not None:
            state[0].update(lines)
        state[1] += len(self._run)
        self._run.clear()
        self._run_bytes = 0

    def _open_page(self, page: int | str) -> list:
        """Start the SHA-256 of ``page`` from its line; a page sealed already is broken instead."""
        if not self._blocks_came:
            self._blocks_came = True
            self._flush()  # every page's line in, to be looked up
        if len(self._open) >= OPEN_PAGES:
            self._seal(*self._open.popitem(last=False))
        line = sealed = None
        with self._lock:
            try:
                if self._failure is None:
                    found = self._db.execute("SELECT line FROM pages WHERE id = ?", (page,))
                    line = found.fetchone()
                    sealed = (
                        page in self._sealed
                        or self._db.execute(
                            "SELECT 1 FROM page_sums WHERE id = ?", (page,)
                        ).fetchone()
                    )
            except sqlite3.Error as exc:  # kept, not raised into the dump (see the class)
                self._failure = exc
        if sealed:
            self._add("broken", (page,))
        state = [hashlib.sha256(line[0]) if line is not None else None, 0]
        self._open[page] = state
        return state

    def _seal(self, page: int | str, state: list) -> None:
        """Keep the SHA-256 of ``page`` made so far (its blocks' count too)."""
        digest, blocks = state
        if digest is not None:
            self._sealed[page] = (digest.digest(), blocks)
        if len(self._sealed) >= BATCH:
            self._flush()

    def add_media(
        self, media_id: int, site_id: int, stored: str, name: str, size: int, sha: bytes
    ) -> None:
        """Keep a media item (it replaces an earlier one of the same id), listed in its site."""
        key = id_key(media_id)
        self._add(
            "media", (key, id_key(site_id), text_key(stored), text_key(name), size_key(size), sha)
        )
        self._add("site_media", (id_key(site_id), key))

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
        self._files.append((id_key(site_id), name_key(name), size_key(size), name_key(sha256)))
        if len(self._files) >= BATCH:
            self._flush_files()

    def _flush_files(self) -> None:
        with self._lock:
            try:
                if self._failure is None and self._files:
                    self._db.executemany(INSERT_FILES, self._files)
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
                self._sealed.clear()
                self._held = self._held_bytes = 0

    def _insert(self) -> None:
        self._db.execute("BEGIN")
        for table, rows in self._pending.items():
            if rows:
                self._db.executemany(INSERTS[table], rows)
        if self._tags:
            self._db.executemany(
                INSERTS["tags"],
                (
                    (id_key(media), count, (total % MODULUS).to_bytes(32, "big"))
                    for media, (count, total) in self._tags.items()
                ),
            )
        if self._sealed:
            self._db.executemany(
                INSERTS["page_sums"],
                ((page, digest, blocks) for page, (digest, blocks) in self._sealed.items()),
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
        """Seal the pages still open, hash again the broken ones, index the tables.

        Call it before the sites are read (again if more rows came since).
        """
        self._end_run()
        while self._open:
            self._seal(*self._open.popitem(last=False))
        self._flush()
        self._flush_files()
        with self._reading():
            self._db.executescript(INDEXES)
            if self._rehash:  # a page's line changed after its blocks came: every page again
                self._db.execute("INSERT OR IGNORE INTO broken SELECT DISTINCT page FROM runs")
                self._rehash = False
            self._runs.flush()
            rehash_broken(self._db, self._runs.fileno())

    def pages(self, site_id: int) -> list[tuple[int, str, str, str]]:
        """Return (id, slug, title, SHA-256 with its blocks) of each page the site listed."""
        found = []
        with self._reading():
            listed = self._db.execute(
                "SELECT p.id, p.slug, p.title, d.sha, CASE WHEN d.sha IS NULL THEN p.line END"
                " FROM site_pages s JOIN pages p ON p.id = s.id"
                " LEFT JOIN page_sums d ON d.id = s.id"
                " WHERE s.site = ? ORDER BY s.n",
                (id_key(site_id),),
            )
            for page_id, slug, title, sha, line in listed:  # a page without blocks: its line's
                sha256 = sha.hex() if sha is not None else hashlib.sha256(line).hexdigest()
                found.append((id_of(page_id), text_of(slug), text_of(title), sha256))
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
                (id_key(site_id),),
            )
            for n, media_id, stored, name, size, sha, total in listed:
                tags = int.from_bytes(total, "big") if total is not None else 0
                if n == last:  # another part of the same item's tags
                    item = found[-1]
                    found[-1] = (*item[:5], (item[5] + tags) % MODULUS)
                    continue
                last = n
                found.append(
                    (id_of(media_id), text_of(stored), text_of(name), size_of(size), sha, tags)
                )
        return found

    def counts(self, site_id: int) -> tuple[int, int]:
        """Return the blocks and the media tags of site ``site_id`` (by their parent's site)."""
        with self._reading():
            (blocks,) = self._db.execute(
                "SELECT coalesce(sum(d.blocks), 0) FROM pages p JOIN page_sums d ON d.id = p.id"
                " WHERE p.site = ?",
                (id_key(site_id),),
            ).fetchone()
            (tags,) = self._db.execute(
                "SELECT coalesce(sum(t.count), 0) FROM media m JOIN tags t ON t.media = m.id"
                " WHERE m.site = ?",
                (id_key(site_id),),
            ).fetchone()
        return blocks, tags

    def files(self, site_id: int) -> Iterator[tuple[str, int, str]]:
        """Yield (name, size, SHA-256) of the site's files, sorted as ``sorted()`` sorts them."""
        with self._reading():
            rows = self._db.execute(
                "SELECT key, size, sha FROM files WHERE site = ? ORDER BY key, size, sha",
                (id_key(site_id),),
            )
        while True:
            with self._reading():
                batch = rows.fetchmany(BATCH)
            if not batch:
                return
            for key, size, sha in batch:
                yield name_of(key), size_of(size), name_of(sha)

    def close(self) -> None:
        """Close the database (its temporary file goes with it)."""
        with self._lock:
            self._db.close()
            self._runs.close()


def _failed(exc: Exception) -> str:
    return f"the site index's temporary database failed ({exc}); is its folder full?"
