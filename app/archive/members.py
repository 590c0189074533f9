"""What goes into an archive: members, their tar headers, and reading their bytes once."""

import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class Member:
    """One file to put in an archive: its name inside, exact size, and where its bytes come from."""

    path: str
    size: int
    source: Path | bytes
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


def tar_header(path: str, size: int, mtime: int) -> bytes:
    """Return the POSIX (pax) tar header of a regular file."""
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
