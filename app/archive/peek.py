"""Read one member of an archive without reading the rest: to decide what to extract.

What it returns is NOT verified; the caller verifies the whole archive
(``extract_archive``) before acting on anything it holds.
"""

from pathlib import Path

from app.archive.errors import CorruptArchive, UnsafeArchive
from app.archive.reader import _parse_manifest, _read_manifest_member, _Reader


def read_member(path, member_name, *, max_bytes):
    """Return the bytes of one member, reading no further than it (NOT verified: verify later).

    Raises CorruptArchive if the member is missing or larger than ``max_bytes``.
    """
    name = Path(path).name
    with _Reader(path) as reader:
        _, expected = _parse_manifest(_read_manifest_member(reader), name)
        if member_name not in expected:
            raise CorruptArchive(f"{name}: has no member {member_name!r}")
        if expected[member_name] > max_bytes:
            raise UnsafeArchive(f"{name}: {member_name} is implausibly large")
        while (info := reader.next_member()) is not None:
            if info.name == member_name and not info.isdir():
                if info.size != expected[member_name]:
                    raise UnsafeArchive(f"{name}: {member_name} is not the size listed")
                return b"".join(reader.read_chunks(info))
    raise CorruptArchive(f"{name}: {member_name} is missing (truncated archive?)")
