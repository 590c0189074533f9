"""The members an archive is written from, checked once and then read again, never copied.

A backup of a hundred thousand media files would hold as many ``Member``
objects, then as many (path, size) pairs for the manifest and as many names
for SHA256SUMS. ``Listing`` holds none of them: it is given the members as a
collection that can be iterated more than once (a list, or a view of the
media spool that makes each ``Member`` afresh) and reads it again for each
pass: the manifest's entries, the members stored, the names SHA256SUMS lists
and the read-back. Only the few members to deflate (dumps, JSON) are kept.

The single checking pass refuses unsafe, reserved or repeated names (kept in a
temporary SQLite table, ``FileTable``, not a set) and in-memory sources whose
length is not their size, and decides each member's compressibility once.
"""

from collections.abc import Iterable, Iterator

from app.archive.auth import TAG_NAME
from app.archive.compressible import guess_compressible, sample
from app.archive.errors import ArchiveError
from app.archive.filelist import FileTable
from app.archive.members import Member
from app.archive.names import MANIFEST_NAME, RESERVED_NAMES, check_member_path

BATCH = 1024  # names checked for repeats at a time


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
        self._check()

    def _check(self) -> None:
        """Check every name and size, once; decide which members are deflated."""
        names = FileTable()
        try:
            batch: list[tuple[str, int]] = []
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
                batch.append((member.path, 0))
                if len(batch) >= BATCH:
                    _add_distinct(names, batch)
            for path in self.late_paths:
                check_member_path(path)
                _refuse_reserved(path)
            _add_distinct(names, batch + [(path, 0) for path in self.late_paths])
        finally:
            names.close()

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

    def summed(self, tagged: bool) -> Iterator[str]:
        """Yield the names SHA256SUMS lists, in order: the manifest, every member, the tag."""
        yield MANIFEST_NAME
        yield from self.names()
        if tagged:
            yield TAG_NAME


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


def _add_distinct(names: FileTable, batch: list[tuple[str, int]]) -> None:
    """Add ``batch`` (then emptied) to ``names``; raise ArchiveError when a name is there twice."""
    if not names.add_many(batch):
        raise ArchiveError("archive members must have distinct names, none reserved")
    batch.clear()
