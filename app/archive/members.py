"""What goes into an archive: members, their tar headers, and reading their bytes once."""

import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from typing import Any, Protocol, TypedDict

from app.archive.errors import ArchiveError

# The manifest (``manifest.json``): the caller's metadata (``format``, which must start with
# "stinkykitty-", and whatever else it records) with ``format_version``, ``files`` (a list of
# ManifestFile) and, in an authenticated archive, ``authentication`` (an Authentication).
# Callers add keys of their own, so it stays a dict; these name its fixed parts.
Manifest = dict[str, Any]


class ManifestFile(TypedDict):
    """One entry of the manifest's ``files``: a member's name and exact size."""

    path: str
    size: int


class Authentication(TypedDict):
    """The manifest's ``authentication`` field: how the tag was made, and with which key."""

    algorithm: str
    member: str
    key_id: str


class Progress(Protocol):
    """Told after each member written or read: how many are done, out of how many."""

    def __call__(self, done: int, total: int, /) -> None: ...


CHUNK = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE


@dataclass(frozen=True, slots=True)
class Member:
    """One file to put in an archive: its name inside, exact size, and where its bytes come from.

    ``source`` is the file's path, or the bytes themselves. With slots: an
    archive of a hundred thousand files holds as many members.
    """

    path: str
    size: int
    source: str | PathLike[str] | bytes
    compressible: bool | None = None


@dataclass(frozen=True)
class Stream:
    """A member whose bytes come as they are made: its size is known once ``chunks`` ends."""

    path: str
    chunks: Iterable[bytes]


@dataclass(frozen=True)
class Late:
    """Compressible members made while the archive is being written (a database dump, say).

    ``paths`` names them, in order. ``members`` yields each one, in that
    order: a Member of exact size once it is complete, or a Stream as soon as
    it starts (deflated as its chunks come); it may block meanwhile;
    an exception it raises abandons the archive. ``meta()``, called after the
    last one, returns the final metadata. The metadata given to
    ``write_archive`` is then a stand-in of the same shape whose numbers and
    strings are as long as the final ones can be: the manifest, first in the
    archive, is written last, into room reserved from that stand-in.
    ``check()`` is called before each member the writer stores meanwhile; an
    exception it raises abandons the archive too.
    """

    paths: list[str]
    members: Iterable[Member]
    meta: Callable[[], Manifest]
    check: Callable[[], None] = lambda: None  # called between members; raises to abandon


# The fixed fields of a plain ustar header as ``tarfile`` writes a regular file's, around the
# name, size, mtime and checksum: mode 0644, uid and gid 0, type "0", no link name, the POSIX
# magic, empty user and group names, empty device numbers and prefix, padded to a block.
_USTAR_MODE_IDS = b"0000644\x00" + b"0000000\x00" * 2
_USTAR_REST = b"0" + bytes(100) + tarfile.POSIX_MAGIC + bytes(32 + 32 + 8 + 8 + 155 + 12)
_USTAR_FIXED_SUM = 256 + sum(_USTAR_REST)  # 256: the checksum field, counted as blanks
_OCTAL_11 = 8**11  # sizes and times up to this fit a ustar field; beyond, pax records


def tar_header(path: str, size: int, mtime: int) -> bytes:
    """Return the POSIX (pax) tar header of a regular file.

    A short ASCII name whose size and time fit the ustar fields needs no pax
    record: its header is built here directly, byte for byte what ``tarfile``
    writes (``tests/test_archive_headers.py`` compares them), at a fraction of
    the cost, which counts in an archive of a hundred thousand files.
    """
    if len(path) <= 100 and path.isascii() and 0 <= size < _OCTAL_11 and 0 <= mtime < _OCTAL_11:
        head = path.encode("ascii").ljust(100, b"\x00") + _USTAR_MODE_IDS
        head += b"%011o\x00%011o\x00" % (size, mtime)
        checksum = _USTAR_FIXED_SUM + sum(head)
        return head + b"%06o\x00 " % checksum + _USTAR_REST
    return _tarfile_header(path, size, mtime)


def _tarfile_header(path: str, size: int, mtime: int) -> bytes:
    """Return the POSIX (pax) tar header of a regular file, as ``tarfile`` writes it."""
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = 0o644
    info.mtime = mtime
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def padding(size: int) -> bytes:
    """Return the zeros that fill a member of ``size`` bytes up to a tar block."""
    return bytes(-size % BLOCK)


def read_source(member: Member, chunk: int = CHUNK) -> Iterator[bytes | memoryview]:
    """Yield the bytes of ``member`` in chunks of at most ``chunk``, ``member.size`` in all."""
    if isinstance(member.source, bytes | bytearray):
        yield member.source
        return
    buffer = bytearray(min(chunk, member.size))
    view = memoryview(buffer)
    remaining = member.size
    with open(member.source, "rb", buffering=0) as source:
        while remaining:
            n = source.readinto(view[: min(chunk, remaining)])
            if not n:
                raise ArchiveError(
                    f"{member.source} shrank while being archived "
                    f"({member.size - remaining} of {member.size} bytes read)"
                )
            remaining -= n
            yield view[:n]


def member_count(manifest: Manifest) -> int:
    """Return how many members an archive with ``manifest`` holds: what ``tar tf`` lists.

    Every file the manifest lists, the manifest itself, and the tag when it is authenticated.
    """
    return len(manifest["files"]) + 1 + (manifest.get("authentication") is not None)
