"""Read one member of an archive without reading the rest: to decide what to extract.

What it returns is NOT verified; the caller verifies the whole archive
(``extract_archive``) before acting on anything it holds. The entries before
it are checked against the manifest as a full read checks them (listed, once,
at their size), so skipping them inflates no more than the manifest declares.
"""

from os import PathLike
from pathlib import Path

from app.archive.errors import CorruptArchive, UnsafeArchive
from app.archive.reader import Members, _load_manifest, _Reader, _release


def read_member(path: str | PathLike[str], member_name: str, *, max_bytes: int) -> bytes:
    """Return the bytes of one member, reading no further than it (NOT verified: verify later).

    Raises CorruptArchive if the member is missing or larger than ``max_bytes``.
    """
    name = Path(path).name
    with _Reader(path) as reader:
        manifest, head, table = _load_manifest(reader.tar, name)
        head.close()
        try:
            size = table.size_of(member_name)
            if size is None:
                raise CorruptArchive(f"{name}: has no member {member_name!r}")
            if size > max_bytes:
                raise UnsafeArchive(f"{name}: {member_name} is implausibly large")
            members = Members(name, table)
            while (entry := reader.tar.next_entry()) is not None:
                members.check(entry)
                if entry.name == member_name and not entry.is_dir:
                    return b"".join(reader.tar.data(entry))
        finally:
            _release(manifest, table)
    raise CorruptArchive(f"{name}: {member_name} is missing (truncated archive?)")
