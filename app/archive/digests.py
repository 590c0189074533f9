"""The SHA-256 of every member written so far, kept in a temporary file, in the archive's order.

A writer of a hundred thousand members would otherwise hold as many hex
digests in a dict, then the SHA256SUMS text made of them. ``DigestSpool``
appends each digest (32 raw bytes) to an unnamed temporary file as its member
is written, and gives them back in that order; SHA256SUMS is made from them
and the members' names, read again from the writer's ``Listing``, a chunk at
a time (``Listed``, ``add_checksums``).
"""

import itertools
import tempfile
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Literal

from app.archive.auth import TAG_NAME
from app.archive.errors import ArchiveError
from app.archive.gzipstream import GzipStreamWriter
from app.archive.listing import Listing
from app.archive.members import padding, tar_header
from app.archive.names import CHECKSUMS_NAME
from app.archive.spool import Blob
from app.archive.sums import checksum_line

_SIZE = 32  # bytes of one SHA-256
_BUFFER = 2048 * _SIZE  # digests kept in memory before they are written out
CHUNK = 64 * 1024  # bytes of SHA256SUMS text made at a time
SPOOL_LINES = 2000  # SHA256SUMS listing more members than this is made into a temporary file

# Told each member's name, size and SHA-256 as it is written (a caller's record of them).
OnMember = Callable[[str, int, str], None]


class DigestSpool:
    """Hex SHA-256 digests, appended in order and read back in that order (see the module)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._pending = bytearray()
        self.count = 0

    def add(self, digest: str) -> None:
        """Append one hex digest."""
        self._pending += bytes.fromhex(digest)
        self.count += 1
        if len(self._pending) >= _BUFFER:
            self._flush()

    def _flush(self) -> None:
        self._file.write(self._pending)
        self._pending.clear()

    def __iter__(self) -> Iterator[str]:
        """Yield every digest added, in order, as hex (do not add meanwhile)."""
        self._flush()
        self._file.seek(0)
        while block := self._file.read(_BUFFER):
            for start in range(0, len(block), _SIZE):
                yield block[start : start + _SIZE].hex()

    def close(self) -> None:
        """Remove the temporary file."""
        self._file.close()

    def __enter__(self) -> "DigestSpool":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self.close()
        return False


def sums_chunks(listed: Iterable[tuple[str, str]]) -> Iterator[bytes]:
    """Yield the SHA256SUMS text of ``listed`` (name, hex digest) pairs, in chunks of ~CHUNK."""
    out = bytearray()
    for name, digest in listed:
        out += checksum_line(name, digest)
        if len(out) >= CHUNK:
            yield bytes(out)
            out.clear()
    if out:
        yield bytes(out)


class Record:
    """Where each member's SHA-256 goes as it is written: the spool, and the caller's record."""

    def __init__(self, digests: DigestSpool, on_member: OnMember | None) -> None:
        self._digests, self._on_member = digests, on_member

    def __call__(self, path: str, size: int, digest: str) -> None:
        self._digests.add(digest)
        if self._on_member is not None:
            self._on_member(path, size, digest)


class Listed:
    """What SHA256SUMS lists: every name, in order, with its SHA-256, read again each time."""

    def __init__(self, listing: Listing, head_digest: str, digests: DigestSpool) -> None:
        self._listing, self._head, self._digests = listing, head_digest, digests
        self.tag_digest: str | None = None

    def untagged(self) -> Iterator[tuple[str, str]]:
        """Yield (name, SHA-256) of the manifest and every member: what the tag covers."""
        names = self._listing.summed()
        return zip(names, itertools.chain([self._head], self._digests), strict=True)

    def untagged_text(self) -> Blob:
        """Return the SHA256SUMS lines of ``untagged()``, in memory when few, else spooled."""
        return Blob(sums_chunks(self.untagged()), in_memory=self._digests.count < SPOOL_LINES)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from self.untagged()
        if self.tag_digest is not None:
            yield TAG_NAME, self.tag_digest


def add_checksums(gz: GzipStreamWriter, sums: Blob, listed: Listed, size: int, mtime: int) -> None:
    """Deflate SHA256SUMS: ``sums`` (the lines before the tag's), then the tag's line if any.

    ``size`` is the size the manifest declared: what is written must be as long.
    """
    tag = b"" if listed.tag_digest is None else checksum_line(TAG_NAME, listed.tag_digest)
    if sums.size + len(tag) != size:
        raise ArchiveError(
            f"{CHECKSUMS_NAME} came out {sums.size + len(tag)} bytes, not the {size} declared"
        )
    gz.compress(tar_header(CHECKSUMS_NAME, size, mtime))
    for chunk in sums.chunks():
        gz.compress(chunk)
    gz.compress(tag + padding(size))
