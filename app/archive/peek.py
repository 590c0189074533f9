"""Read part of an archive without the rest: one member, or the last ones of one just written.

``read_member`` serves to decide what to extract; what it returns is NOT
verified: the caller verifies the whole archive (``extract_archive``) before
acting on anything it holds. The entries before
it are checked against the manifest as a full read checks them (listed, once,
at their size), so skipping them inflates no more than the manifest declares.
"""

from os import PathLike
from pathlib import Path

from app.archive.auth import TAG_NAME
from app.archive.errors import CorruptArchive, UnsafeArchive
from app.archive.filelist import Members
from app.archive.members import Manifest
from app.archive.names import CHECKSUMS_NAME
from app.archive.reader import _load_manifest, _Reader, _release
from app.archive.spool import Blob
from app.archive.tarstream import Inflater, TarReader

IN_MEMORY = 1024 * 1024  # a last member larger than this is read back into a temporary file


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


def read_back(
    path: str | PathLike[str], tail_offset: int, trailer: bytes
) -> tuple[Manifest, Blob, dict[str, Blob]]:
    """Read a just-written archive's manifest and, from ``tail_offset``, its last members.

    ``tail_offset`` is where a fresh deflate run holding the tag (if any) and
    SHA256SUMS starts; ``trailer`` the gzip trailer expected at the end. Returns
    (manifest, its bytes, {member: its bytes}) as the reader reads them: the
    manifest without its ``files`` (a large one is streamed, as a full read
    streams it, so that no dict per file is made); the bytes as Blobs, spooled
    to temporary files when large, which the caller closes.
    """
    name = Path(path).name
    with _Reader(path) as reader:
        manifest, head, table = _load_manifest(reader.tar, name)
    try:
        members: dict[str, Blob] = {}
        with open(path, "rb") as raw:
            raw.seek(tail_offset)
            inflater = Inflater(raw, name, wbits=-15)
            tar = TarReader(inflater, name)
            while (entry := tar.next_entry()) is not None:
                if entry.name not in (CHECKSUMS_NAME, TAG_NAME) or entry.size != table.size_of(
                    entry.name
                ):
                    raise CorruptArchive(f"{name}: unexpected member {entry.name!r} at the end")
                members[entry.name] = Blob(tar.data(entry), entry.size <= IN_MEMORY)
        if inflater.trailer != trailer:
            raise CorruptArchive(f"{name}: the gzip trailer is not the one written")
    except BaseException:
        for blob in (head, *members.values()):
            blob.close()
        raise
    finally:
        table.close()
    return (
        {key: value for key, value in manifest.items() if key != "files"},
        head,
        members,
    )
