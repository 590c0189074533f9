"""The members an archive is written from, checked once and then read again, never copied.

A backup of a hundred thousand media files would hold as many ``Member``
objects, then as many (path, size) pairs for the manifest and as many names
for SHA256SUMS. ``Listing`` holds none of them: it is given the members as an
iterable it can read more than once (a list, or a view of the media spool that
makes each ``Member`` afresh; an iterator is made a list) and reads it again
for each pass: the manifest's entries, the members stored, the names
SHA256SUMS lists and the read-back. Only the few members to deflate (dumps,
JSON) are kept.

The single checking pass refuses unsafe, reserved or repeated names (kept in a
temporary SQLite table, not a set) and in-memory sources whose
length is not their size, and decides each member's compressibility once.
"""

import sqlite3
from collections.abc import Iterable, Iterator

from app.archive.auth import TAG_NAME
from app.archive.compressible import guess_compressible, sample
from app.archive.errors import ArchiveError
from app.archive.members import Member
from app.archive.names import MANIFEST_NAME, RESERVED_NAMES, check_member_path
from app.archive.sums import checksum_line_size, checksums_size, name_bytes

BATCH = 1024  # names checked for repeats at a time
CACHE_KIB = 4096  # the names table's page cache: its memory, whatever their number


class Listing:
    """The members of one archive in its order: stored, then deflated (see the module)."""

    def __init__(self, members: Iterable[Member], late_paths: Iterable[str] = ()) -> None:
        if iter(members) is members:
            members = list(members)  # a one-time iterator: it is read more than once
        self._members = members
        self.late_paths = list(late_paths)
        self.deflated: list[Member] = []
        self._deflated_paths: set[str] = set()
        self.stored_count = 0
        self.lines_size = 0  # the size of the members' SHA256SUMS lines
        self._check()

    def _check(self) -> None:
        """Check every name and size, once; decide which members are deflated."""
        names = _Names()
        try:
            for member in self._members:
                _check_member(member)
                compressible = member.compressible
                if compressible is None:
                    compressible = guess_compressible(member.path, sample(member))
                if compressible:
                    self.deflated.append(member)
                    self._deflated_paths.add(member.path)
                else:
                    self.stored_count += 1
                names.add(member.path)
            for path in self.late_paths:
                check_member_path(path)
                _refuse_reserved(path)
                names.add(path)
            names.check()
            self.lines_size = names.lines_size
        finally:
            names.close()

    def checksums_size(self, tagged: bool) -> int:
        """Return the size of SHA256SUMS: ``summed()``, then the tag's line when ``tagged``."""
        return self.lines_size + checksums_size([MANIFEST_NAME, *([TAG_NAME] if tagged else [])])

    @property
    def stored(self) -> "Stored":
        """The members to store as they are, in the order given: a view, read again each time."""
        return Stored(self._members, self._deflated_paths, self.stored_count)

    @property
    def count(self) -> int:
        """How many members the caller gave, late ones included."""
        return self.stored_count + len(self.deflated) + len(self.late_paths)

    def entries(self, late_sizes: Iterable[tuple[str, int]] = ()) -> "Entries":
        """The manifest's (path, size) of every member, late ones with ``late_sizes``."""
        return Entries(self, list(late_sizes))

    def unstored_names(self) -> list[str]:
        """Return the names of the members deflated, then the late ones: the second thread's."""
        return [member.path for member in self.deflated] + self.late_paths

    def names(self) -> Iterator[str]:
        """Yield every member's name in the archive's order (stored, deflated, late)."""
        yield from (member.path for member in self.stored)
        yield from (member.path for member in self.deflated)
        yield from self.late_paths

    def summed(self) -> Iterator[str]:
        """Yield the names SHA256SUMS lists before the tag's: the manifest, every member."""
        yield MANIFEST_NAME
        yield from self.names()


class Stored:
    """The members of a collection that are not deflated, in its order (made afresh each time)."""

    def __init__(self, members: Iterable[Member], deflated: set[str], count: int) -> None:
        self._members, self._deflated, self._count = members, deflated, count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Member]:
        if not self._deflated:
            return iter(self._members)
        return (member for member in self._members if member.path not in self._deflated)


class Entries:
    """The manifest's file list of a Listing as (path, size) pairs, read again each time."""

    def __init__(self, listing: Listing, late_sizes: list[tuple[str, int]]) -> None:
        self._listing, self._late = listing, late_sizes

    def __len__(self) -> int:
        return self._listing.stored_count + len(self._listing.deflated) + len(self._late)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for member in self._listing.stored:
            yield member.path, member.size
        for member in self._listing.deflated:
            yield member.path, member.size
        yield from self._late


def _check_member(member: Member) -> None:
    check_member_path(member.path)
    _refuse_reserved(member.path)
    if isinstance(member.source, bytes | bytearray) and len(member.source) != member.size:
        raise ArchiveError(f"{member.path}: {len(member.source)} bytes, expected {member.size}")


def _refuse_reserved(path: str) -> None:
    if path in RESERVED_NAMES:
        raise ArchiveError("archive members must have distinct names, none reserved")


class _Names:
    """Member names seen, in a temporary SQLite table: a name given twice is refused.

    It also adds up the size of their SHA256SUMS lines (``checksums_size``).
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("CREATE TABLE names (name BLOB PRIMARY KEY) WITHOUT ROWID")
        self._batch: list[tuple[bytes]] = []
        self.lines_size = 0

    def add(self, name: str) -> None:
        raw = name_bytes(name)
        self._batch.append((raw,))
        self.lines_size += checksum_line_size(raw)
        if len(self._batch) >= BATCH:
            self.check()

    def check(self) -> None:
        """Add the names held; raise ArchiveError if one was there before."""
        try:
            self._db.executemany("INSERT INTO names VALUES (?)", self._batch)
        except sqlite3.IntegrityError:
            raise ArchiveError("archive members must have distinct names, none reserved") from None
        self._batch.clear()

    def close(self) -> None:
        self._db.close()
