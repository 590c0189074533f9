"""The files of a media snapshot, kept in a private temporary SQLite database instead of memory.

A large server has a hundred thousand media files: as Python objects their
names, sources and sizes cost tens of MiB for the whole backup. The spool keeps
them on disk (SQLite's temporary database, with a small page cache) and hands
them back one ``MediaFile`` at a time, in the order they were added (the
archive's order) or sorted by name as Python sorts ``str`` (the fingerprint's).

That second order comes from the key: the name encoded as UTF-32-BE, which
SQLite compares byte by byte, orders by code point, as Python does; names
that are not UTF-8 (lone surrogates from ``surrogateescape``) encode with
``surrogatepass`` and decode back to the very same ``str``.
"""

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import NamedTuple

BATCH = 1000  # rows inserted, or read back, at a time
CACHE_KIB = 4096  # SQLite's page cache: the spool's memory, whatever its rows


class MediaFile(NamedTuple):
    """One file under uploads/, as found when the backup started (made afresh from each row)."""

    relpath: str  # relative to uploads/, POSIX
    source: str  # where to read it (a hard link in the media snapshot when possible)
    size: int
    mtime_ns: int
    trashed: bool = False  # found in the media trash: its row was being deleted


def name_key(name: str) -> bytes:
    """Return a key that orders as ``name`` does among Python strings (by code point)."""
    return name.encode("utf-32-be", "surrogatepass")


def name_of(key: bytes) -> str:
    """Return the name whose ``name_key`` is ``key``."""
    return key.decode("utf-32-be", "surrogatepass")


def text_key(text: str) -> bytes:
    """Return ``text`` as SQLite keeps it: UTF-8 bytes, lone surrogates included.

    Any str comes back as itself (SQLite's TEXT would refuse lone surrogates).
    """
    return text.encode("utf-8", "surrogatepass")


def text_of(data: bytes) -> str:
    """Return the text kept as ``data`` (see ``text_key``)."""
    return data.decode("utf-8", "surrogatepass")


class MediaSpool:
    """The files of a media snapshot, in a temporary SQLite database (see the module)."""

    def __init__(self) -> None:
        # Filled by the thread that walks the media, then read by the backup's others:
        # one at a time, each read under the lock.
        self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.execute(
            "CREATE TABLE files (n INTEGER PRIMARY KEY, key BLOB NOT NULL,"
            " source BLOB NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
            " trashed INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()
        self._pending: list[tuple[bytes, bytes, int, int, int]] = []
        self._count = 0
        self._size = 0
        self._trashed = 0

    def add(self, file: MediaFile) -> None:
        """Add ``file`` after the others (its name must not be in the spool yet)."""
        row = (name_key(file.relpath), text_key(file.source), file.size, file.mtime_ns)
        self._pending.append((*row, int(file.trashed)))
        self._count += 1
        self._size += file.size
        self._trashed += file.trashed
        if len(self._pending) >= BATCH:
            self._flush()

    def extend(self, files: Iterable[MediaFile]) -> None:
        """Add each of ``files`` in turn."""
        for file in files:
            self.add(file)

    def _flush(self) -> None:
        with self._lock:
            if self._pending:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO files (key, source, size, mtime_ns, trashed)"
                    " VALUES (?, ?, ?, ?, ?)",
                    self._pending,
                )
                self._db.execute("COMMIT")
                self._pending.clear()

    def __contains__(self, relpath: object) -> bool:
        """Return True if a file named ``relpath`` is in the spool."""
        if not isinstance(relpath, str):
            return False
        self._flush()
        with self._lock:
            # Asked only of files found in the media trash: the index is made then, not
            # kept up to date while the uploads are added.
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS names ON files (key)")
            found = self._db.execute("SELECT 1 FROM files WHERE key = ?", (name_key(relpath),))
            return found.fetchone() is not None

    def __len__(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        """Return the bytes of all the files."""
        return self._size

    @property
    def any_trashed(self) -> bool:
        """Return True if a file was found in the media trash."""
        return self._trashed > 0

    def __iter__(self) -> Iterator[MediaFile]:
        """Yield the files in the order they were added."""
        return self._rows("n")

    def by_name(self) -> Iterator[MediaFile]:
        """Yield the files sorted by name, as ``sorted()`` sorts their ``relpath``."""
        return self._rows("key")

    def _rows(self, order: str) -> Iterator[MediaFile]:
        self._flush()
        query = f"SELECT key, source, size, mtime_ns, trashed FROM files ORDER BY {order}"
        with self._lock:
            rows = self._db.execute(query)
        while True:
            with self._lock:
                batch = rows.fetchmany(BATCH)
            for key, source, size, mtime_ns, trashed in batch:
                yield MediaFile(name_of(key), text_of(source), size, mtime_ns, bool(trashed))
            if not batch:
                return

    def keep_referenced(self, names: Iterable[str]) -> None:
        """Drop the trashed files whose names are not among ``names``."""
        self._flush()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("CREATE TEMP TABLE referenced (key BLOB PRIMARY KEY)")
            self._db.executemany(
                "INSERT OR IGNORE INTO referenced VALUES (?)", ((name_key(n),) for n in names)
            )
            self._db.execute(
                "DELETE FROM files WHERE trashed AND key NOT IN (SELECT key FROM referenced)"
            )
            self._db.execute("DROP TABLE referenced")
            self._db.execute("COMMIT")
            totals = "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(trashed), 0) FROM files"
            self._count, self._size, self._trashed = self._db.execute(totals).fetchone()

    def close(self) -> None:
        """Close the spool's database (its temporary file goes with it)."""
        with self._lock:
            self._db.close()
