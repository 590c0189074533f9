"""Read one member of an archive without reading the rest: to decide what to extract.

What it returns is NOT verified; the caller verifies the whole archive
(``extract_archive``) before acting on anything it holds. The entries before
it are checked against the manifest as a full read checks them (listed, once,
at their size), so skipping them inflates no more than the manifest declares.
"""

from os import PathLike
from pathlib import Path

from app.archive.errors import CorruptArchive, UnsafeArchive
from app.archive.reader import Members, _read_manifest_member, _Reader, parse_manifest


def read_member(path: str | PathLike[str], member_name: str, *, max_bytes: int) -> bytes:
    """Return the bytes of one member, reading no further than it (NOT verified: verify later).

    Raises CorruptArchive if the member is missing or larger than ``max_bytes``.
    """
    name = Path(path).name
    with _Reader(path) as reader:
        _, expected = parse_manifest(_read_manifest_member(reader.tar, name), name)
        if member_name not in expected:
            raise CorruptArchive(f"{name}: has no member {member_name!r}")
        if expected[member_name] > max_bytes:
            raise UnsafeArchive(f"{name}: {member_name} is implausibly large")
        members = Members(name, expected)
        while (entry := reader.tar.next_entry()) is not None:
            members.check(entry)
            if entry.name == member_name and not entry.is_dir:
                return b"".join(reader.tar.data(entry))
    raise CorruptArchive(f"{name}: {member_name} is missing (truncated archive?)")
