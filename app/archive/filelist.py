"""A manifest's files kept on disk while an archive is read, so memory does not grow with them.

A reader of a hundred thousand members would otherwise hold a dict per file
(the parsed manifest), the sizes, the names seen, the folders, the digests
made and the digests listed in SHA256SUMS. ``FileTable`` keeps all of that in
a private temporary SQLite database (a file removed when it is closed, with a
small page cache); ``FileList`` is the manifest's ``files`` as a read-only
sequence over it, for callers that expect a list of ``{"path", "size"}``.
"""

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from app.archive.auth import TAG_NAME
from app.archive.errors import UnsafeArchive
from app.archive.members import ManifestFile
from app.archive.names import check_member_path
from app.archive.sums import name_bytes, name_from_bytes
from app.archive.tarstream import Entry

_BATCH = 1024  # rows written at once
_ADD_FILES = "INSERT INTO files (path, ord, size) VALUES (?, ?, ?)"
_ADD_LISTED = "INSERT INTO listed (path, digest) VALUES (?, ?)"
_SCHEMA = (
    # ord: the order of the manifest (from 1); seq: the order the member's digest was made in
    # size: no type, so a size past SQLite's 64 bits is kept exactly, as its digits (_stored)
    # Keyed by path alone (no rowid): a member's lookup and mark is one B-tree search.
    "CREATE TABLE files (path BLOB PRIMARY KEY, ord INTEGER NOT NULL, size NOT NULL, "
    "seen INTEGER NOT NULL DEFAULT 0, seq INTEGER, digest TEXT) WITHOUT ROWID",
    "CREATE UNIQUE INDEX files_ord ON files (ord)",
    "CREATE TABLE folders (path BLOB PRIMARY KEY, seen INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
    "CREATE TABLE listed (path BLOB PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID",
)


def _stored(size: int) -> int | str:
    """Return ``size`` as SQLite keeps it: an integer, or its digits when past 64 bits."""
    return size if -(2**63) <= size < 2**63 else str(size)


class FileTable:
    """The listed files of one archive (size, seen, digest made, digest listed) in temporary SQLite.

    Names are stored as their bytes (``name_bytes``), so any name Linux allows fits.
    """

    def __init__(self) -> None:
        # "": a temporary database on disk, removed on close. A manifest's FileList may be
        # read in another thread than the one that read the archive (never two at once).
        self.db = sqlite3.connect("", check_same_thread=False)
        self.db.execute("PRAGMA cache_size=-4096")  # KiB: a small, fixed page cache
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self.db.execute(statement)
        self.listed_count = 0  # rows of ``files`` that the manifest's "files" lists
        self.count = 0  # rows of ``files``, with the tag when it is declared
        self.total = 0  # the sum of their sizes
        self._parent: str | None = None  # the folder of the last file added by add_many

    def close(self) -> None:
        """Close (and so remove) the database."""
        self.db.close()

    def add(self, path: str, size: int) -> bool:
        """Add a listed file; return False (adding nothing) when ``path`` is already there."""
        try:
            self.db.execute(
                "INSERT INTO files (path, ord, size) VALUES (?, ?, ?)",
                (name_bytes(path), self.count + 1, _stored(size)),
            )
        except sqlite3.IntegrityError:
            return False
        self.count += 1
        self.total += size
        return True

    def add_many(self, files: Iterable[tuple[str, int]]) -> bool:
        """Add listed files in order; return False when one is already there (then drop all)."""
        rows: list[tuple[bytes, int, int | str]] = []
        for path, size in files:
            self.count += 1
            rows.append((name_bytes(path), self.count, _stored(size)))
            self.total += size
            parent = path.rpartition("/")[0]
            if parent and parent != self._parent:
                self.add_folders(path)
                self._parent = parent
            if len(rows) >= _BATCH and not self._insert(_ADD_FILES, rows):
                return False
        return self._insert(_ADD_FILES, rows)

    def _insert(self, statement: str, rows: list[Any]) -> bool:
        """Insert ``rows`` (then emptied); False when one is already there."""
        try:
            self.db.executemany(statement, rows)
        except sqlite3.IntegrityError:
            return False
        rows.clear()
        return True

    def add_folders(self, path: str) -> None:
        """Add every folder that holds ``path``, deepest first, stopping at one already there."""
        parts = name_bytes(path).split(b"/")
        for end in range(len(parts) - 1, 0, -1):
            folder = b"/".join(parts[:end])
            cursor = self.db.execute("INSERT OR IGNORE INTO folders (path) VALUES (?)", (folder,))
            if cursor.rowcount == 0:
                break

    def take(self, path: str) -> int | None:
        """Mark the listed ``path`` as come and return its size; None if not listed or come."""
        row = self.db.execute(
            "UPDATE files SET seen = 1 WHERE path = ? AND seen = 0 RETURNING size",
            (name_bytes(path),),
        ).fetchone()
        return None if row is None else int(row[0])

    def size_of(self, path: str) -> int | None:
        """Return the listed size of ``path`` (None when it is not listed)."""
        row = self.db.execute(
            "SELECT size FROM files WHERE path = ?", (name_bytes(path),)
        ).fetchone()
        return None if row is None else int(row[0])

    def total_kept(self, keep: Callable[[str], bool] | None) -> int:
        """Return the total size of the files for which ``keep(path)`` is true (all: None)."""
        if keep is None:
            return self.total
        return sum(size for path, size in self.rows() if keep(path))

    def rows(self, start: int = 0) -> Iterator[tuple[str, int]]:
        """Yield (path, size) of every file from the ``start``-th, in the manifest's order."""
        cursor = self.db.execute(
            "SELECT path, size FROM files WHERE ord > ? ORDER BY ord", (start,)
        )
        for path, size in cursor:
            yield name_from_bytes(path), int(size)

    def row(self, index: int) -> tuple[str, int]:
        """Return (path, size) of the file at ``index`` (0-based) in the manifest's order."""
        path, size = self.db.execute(
            "SELECT path, size FROM files WHERE ord = ?", (index + 1,)
        ).fetchone()
        return name_from_bytes(path), int(size)

    def is_folder(self, path: str) -> bool:
        """Return whether ``path`` is a folder that holds a listed file."""
        row = self.db.execute(
            "SELECT 1 FROM folders WHERE path = ?", (name_bytes(path),)
        ).fetchone()
        return row is not None

    def mark_folder(self, path: str) -> bool:
        """Mark folder ``path`` as come; return False when it had come already."""
        cursor = self.db.execute(
            "UPDATE folders SET seen = 1 WHERE path = ? AND seen = 0", (name_bytes(path),)
        )
        return cursor.rowcount == 1

    def first_missing(self) -> tuple[int, str | None]:
        """Return how many listed files have not come, and the first of them in manifest order."""
        (missing,) = self.db.execute("SELECT COUNT(*) FROM files WHERE seen = 0").fetchone()
        if not missing:
            return 0, None
        (path,) = self.db.execute(
            "SELECT path FROM files WHERE seen = 0 ORDER BY ord LIMIT 1"
        ).fetchone()
        return missing, name_from_bytes(path)

    def record(self, digests: Sequence[tuple[str, str]], seq: int) -> int:
        """Record the digests made of members, in order from ``seq``; return the next seq."""
        self.db.executemany(
            "UPDATE files SET digest = ?, seq = ? WHERE path = ?",
            [(digest, seq + n, name_bytes(path)) for n, (path, digest) in enumerate(digests)],
        )
        return seq + len(digests)

    def add_listed_many(self, entries: Iterable[tuple[str, str]]) -> bool:
        """Add SHA256SUMS lines in batches; return False when a path is listed twice."""
        rows: list[tuple[bytes, str]] = []
        for path, digest in entries:
            rows.append((name_bytes(path), digest))
            if len(rows) >= _BATCH and not self._insert(_ADD_LISTED, rows):
                return False
        return self._insert(_ADD_LISTED, rows)

    def listed_digest(self, path: str) -> str | None:
        """Return the digest SHA256SUMS gives ``path`` (None when it gives none)."""
        row = self.db.execute(
            "SELECT digest FROM listed WHERE path = ?", (name_bytes(path),)
        ).fetchone()
        return None if row is None else str(row[0])

    def clear_listed(self) -> None:
        """Forget every SHA256SUMS line added."""
        self.db.execute("DELETE FROM listed")

    def listed_match(self, others: Sequence[str]) -> bool:
        """Return whether SHA256SUMS names exactly the files hashed and ``others``.

        ``others`` names members hashed apart (not in the table), which SHA256SUMS lists too.
        """
        (hashed,) = self.db.execute(
            "SELECT COUNT(*) FROM files WHERE digest IS NOT NULL"
        ).fetchone()
        (listed,) = self.db.execute("SELECT COUNT(*) FROM listed").fetchone()
        (both,) = self.db.execute(
            "SELECT COUNT(*) FROM listed JOIN files USING (path) WHERE files.digest IS NOT NULL"
        ).fetchone()
        if listed != hashed + len(others) or both != hashed:
            return False
        return all(self.listed_digest(name) is not None for name in others)

    def first_mismatch(self) -> str | None:
        """Return the first member (in the order hashed) whose digest is not the listed one."""
        row = self.db.execute(
            "SELECT path FROM files JOIN listed USING (path) "
            "WHERE files.digest IS NOT NULL AND files.digest != listed.digest "
            "ORDER BY files.seq LIMIT 1"
        ).fetchone()
        return None if row is None else name_from_bytes(row[0])


class FileList(Sequence[ManifestFile]):
    """The manifest's ``files`` of a large archive: a read-only sequence over its FileTable."""

    def __init__(self, table: FileTable) -> None:
        self._table = table
        self._length = table.listed_count

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> ManifestFile: ...

    @overload
    def __getitem__(self, index: slice) -> list[ManifestFile]: ...

    def __getitem__(self, index: int | slice) -> ManifestFile | list[ManifestFile]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("file list index out of range")
        path, size = self._table.row(index)
        return {"path": path, "size": size}

    def __iter__(self) -> Iterator[ManifestFile]:
        for number, (path, size) in enumerate(self._table.rows(), 1):
            if number > self._length:
                return
            yield {"path": path, "size": size}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileList | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like a list


class Members:
    """Check each entry against the manifest as it comes, before any of its data is read.

    A file must be listed, come once and have its listed size; a folder must
    hold a listed file and come once. Every entry but the manifest and the tag
    counts against ``max_members``, folders included. So what a reader inflates
    is bounded by what the manifest declares.
    """

    def __init__(self, source: str, table: FileTable, max_members: int | None = None) -> None:
        self.source = source
        self.table = table
        self.done = 1  # files come, the manifest included
        self.count = 0
        self.max_members = max_members

    def check(self, entry: Entry) -> None:
        """Raise UnsafeArchive unless ``entry`` (a tarstream.Entry) may come next."""
        name = self.source
        check_member_path(entry.name)
        if entry.name != TAG_NAME:
            self.count += 1
        if self.max_members is not None and self.count > self.max_members:
            raise UnsafeArchive(
                f"{name}: more than {self.max_members:,} members (folders count too), "
                f"at {entry.name!r}"
            )
        if entry.is_dir:
            if not self.table.is_folder(entry.name):
                raise UnsafeArchive(f"{name}: refused directory {entry.name!r} not in manifest")
            if not self.table.mark_folder(entry.name):
                raise UnsafeArchive(f"{name}: directory {entry.name!r} appears twice")
            return
        size = self.table.take(entry.name)  # one statement for the usual member
        if size is None:
            if self.table.size_of(entry.name) is None:
                raise UnsafeArchive(f"{name}: refused member {entry.name!r} not listed in manifest")
            raise UnsafeArchive(f"{name}: member {entry.name!r} appears twice")
        if entry.size != size:
            raise UnsafeArchive(
                f"{name}: member {entry.name!r} is {entry.size} bytes, manifest says {size}"
            )
        self.done += 1
