"""Self-describing, checksummed ``.tar.gz`` archives, written atomically in one pass.

Layout, in this order:

- ``manifest.json``: the caller's metadata plus ``files``, the path and size of
  every other member, known before a byte is written, so a reader can refuse
  unlisted or oversized members before extracting anything;
- every member, each read exactly once and hashed while it is written;
- ``HMAC-SHA256``: given a key, the authentication tag over the manifest and
  the checksum lines of every other member (see ``app.archive.auth``);
- ``SHA256SUMS``: the SHA-256 of every member, manifest and tag included, in
  the format ``sha256sum -c`` reads (GNU-escaped names, see ``app.archive.sums``).

Before the rename the writer reads its own manifest and last members back from
the file with the reader's parsers: an archive its reader would refuse is never
put in place.

Both system backups and site exports are written with ``write_archive`` and read
with the functions of ``app.archive.reader``.
"""

import hashlib
import itertools
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import IO, Literal

from isal import isal_zlib

from app.archive.auth import TAG_NAME, authentication_field, make_tag, tag_problem
from app.archive.deflateahead import DeflateAhead
from app.archive.digests import DigestSpool, Listed, OnMember, Record, add_checksums
from app.archive.errors import ArchiveError, NotEnoughSpace
from app.archive.gzipstream import GzipStreamWriter, deflated_run, padded_run, stored_blocks
from app.archive.listing import Listing
from app.archive.members import (
    BLOCK,
    RECORD,
    Late,
    Manifest,
    Member,
    Progress,
    padding,
    read_source,
    tar_header,
)
from app.archive.names import CHECKSUMS_NAME, MANIFEST_NAME
from app.archive.peek import read_back
from app.archive.reader import FORMAT_VERSION
from app.archive.space import fsync_dir, is_disk_full
from app.archive.spool import Blob
from app.archive.sums import lists_in_order, manifest_blob

__all__ = ["ArchiveResult", "Late", "Member", "RoomExceeded", "remove_temporaries", "write_archive"]

# Media are read, hashed and stored in pieces this large: each piece costs this
# thread a few waits for the GIL while the dump runs in another (up to the
# interpreter's switch interval each), so fewer, larger pieces wait less.
STORE_CHUNK = 4 * 1024 * 1024
FLUSH_EVERY = 64 * 1024 * 1024
# A late member's size in the stand-in manifest: as many digits as any real one.
STAND_IN_SIZE = 999_999_999_999_999
# Room for the final manifest beyond the stand-in's: its compressed size may
# differ a little, and up to four tar blocks of spaces align it (see _place_head).
HEAD_MARGIN = 1024 + 5 * BLOCK
# A manifest listing more members than this is made into a temporary file, not memory.
MANIFEST_IN_MEMORY = 2000


class RoomExceeded(ArchiveError):
    """The final manifest of an archive with late members did not fit the room reserved for it."""


@dataclass(frozen=True)
class ArchiveResult:
    """What ``write_archive`` wrote."""

    path: Path
    size: int
    sha256: str | None


def write_archive(
    final_path: str | PathLike[str],
    meta: Manifest,
    members: Iterable[Member],
    *,
    progress: Progress | None = None,
    digest: bool = True,
    key: bytes | None = None,
    late: Late | None = None,
    on_member: OnMember | None = None,
) -> ArchiveResult:
    """Write ``members`` under ``meta`` as one ``.tar.gz`` at ``final_path``, atomically.

    Incompressible members (media) are stored by this thread at the speed of a
    copy while a second thread deflates the compressible ones (database dumps,
    JSON) into a spool file next to the archive; that spool is appended last.
    So the manifest lists stored members first, then deflated ones, then
    ``late`` ones (see ``Late``: members still being made when writing starts,
    which the second thread deflates as they come; ``meta`` is then a stand-in
    and ``RoomExceeded`` is raised, keeping nothing, if the final manifest
    does not fit where the stand-in's did).
    ``members`` is read more than once when it is a collection (see
    ``app.archive.listing``): a view that makes each Member afresh keeps the
    writer's memory flat, whatever their number.
    ``digest=False`` skips the SHA-256 of the whole archive file (``sha256`` is
    then None), for callers that do not use it; members are always hashed, and
    ``on_member(path, size, sha256)`` is told each one's as it is written.
    With ``key`` (bytes), the archive carries an authentication tag made with it.
    """
    final_path = Path(final_path)
    listing = Listing(members, late.paths if late else ())
    if late and digest:
        raise ValueError("an archive with late members cannot be hashed whole as it is written")
    stand_ins = [(p, STAND_IN_SIZE) for p in listing.late_paths]
    head = _manifest(meta, listing, stand_ins, key)  # a Blob: spooled when large
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or int(time.time())

    tmp = final_path.with_name(f".{final_path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with (
            closing(head),
            DigestSpool() as digests,
            DeflateAhead(
                itertools.chain(listing.deflated, late.members if late else ()),
                tmp.with_name(tmp.name + "-text"),
                mtime,
                paths=None if late is None else listing.unstored_names(),
            ) as ahead,
            open(tmp, "xb", buffering=0) as raw,
            _HashingRaw(raw, digest) as out,
        ):
            os.fchmod(raw.fileno(), 0o640)
            gz = GzipStreamWriter(out, mtime=mtime)
            if late is None:
                _add_blob(gz, MANIFEST_NAME, head, mtime)
            else:
                room = len(deflated_run(head.chunks())) + len(tar_header(MANIFEST_NAME, 0, mtime))
                room += HEAD_MARGIN
                head_offset = gz.reserve(room)
            check = ahead.check if late is None else _both(ahead.check, late.check)
            record = Record(digests, on_member)
            _add_members(gz, listing, ahead, check, mtime, progress, record)
            if late is not None:
                late_sizes = [(p, ahead.sizes[p]) for p in listing.late_paths]
                head.close()  # the stand-in's
                with closing(_manifest(late.meta(), listing, late_sizes, key)) as final:
                    head = _place_head(gz, raw, head_offset, room, final, mtime)
            tail_offset = gz.end_run()  # the tail starts a fresh deflate run, read back below
            listed = Listed(listing, head.sha256, digests)
            with closing(listed.untagged_text()) as sums:  # made once, spooled when large
                if key is not None:
                    tag = make_tag(key, head, sums.chunks())
                    listed.tag_digest = _add_bytes(gz, TAG_NAME, tag, mtime)
                add_checksums(gz, sums, listed, listing.checksums_size(key is not None), mtime)
            gz.compress(bytes(2 * BLOCK + (-(gz.uncompressed_size + 2 * BLOCK)) % RECORD))
            trailer = gz.close()
            out.stop_flushing()
            os.fsync(raw.fileno())
            if os.fstat(raw.fileno()).st_size != out.size:
                raise ArchiveError(f"{tmp.name}: the file on disk is not the size written")
            _check_read_back(tmp, final_path.name, (tail_offset, trailer), head, listed, key)
            head.close()
        os.replace(tmp, final_path)
        fsync_dir(final_path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise NotEnoughSpace(
                f"disk full while writing {final_path.name} in {final_path.parent}; "
                "nothing was kept, free some space and try again"
            ) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ArchiveResult(
        path=final_path,
        size=out.size,
        sha256=out.hash.hexdigest() if out.hash else None,
    )


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    """Return a check that runs ``first``, then ``second``."""

    def check() -> None:
        first()
        second()

    return check


def _manifest(
    meta: Manifest, listing: Listing, late: list[tuple[str, int]], key: bytes | None
) -> Blob:
    """Return the manifest's bytes: ``meta`` and the listing's members, ``late`` ones last.

    ``late`` gives the (path, size) of the late members. Only the bytes are
    made, a piece at a time, into a temporary file when the members are many:
    the manifest as a dict costs ten times their memory.
    """
    manifest = {**meta, "format_version": FORMAT_VERSION}
    if key is not None:  # the tag member is declared here, not in "files"
        manifest["authentication"] = authentication_field(key)
    sums = (CHECKSUMS_NAME, listing.checksums_size(key is not None))
    entries = listing.entries([*late, sums])
    return manifest_blob(manifest, entries, in_memory=len(entries) <= MANIFEST_IN_MEMORY)


def _place_head(
    gz: GzipStreamWriter, raw: IO[bytes], offset: int, room: int, head: Blob, mtime: int
) -> Blob:
    """Write the manifest member into the room reserved at ``offset``; return the manifest's bytes.

    The manifest is followed by spaces (JSON allows them) up to a tar block, or
    up to four blocks more: each block changes the run's length by 512 bytes,
    which is 2 modulo 5, so one of the five choices leaves room for a whole
    number of 5-byte empty stored blocks.
    """
    deflated = deflated_run(head.chunks())
    for extra in range(5):
        spaces = b" " * ((-head.size) % BLOCK + extra * BLOCK)
        header = tar_header(MANIFEST_NAME, head.size + len(spaces), mtime)
        run = padded_run(stored_blocks(header) + deflated + stored_blocks(spaces), room)
        if run is not None:
            break
    else:
        raise RoomExceeded("the manifest outgrew the room reserved for it")
    written = os.pwrite(raw.fileno(), run, offset)
    if written != len(run):
        raise ArchiveError("could not write the manifest in full")
    body = Blob(itertools.chain(head.chunks(), [spaces]), in_memory=not head.spooled)
    crc = isal_zlib.crc32(header)
    for chunk in body.chunks():
        crc = isal_zlib.crc32(chunk, crc)
    gz.prepend(crc, len(header) + body.size)
    return body


def _add_members(
    gz: GzipStreamWriter,
    listing: Listing,
    ahead: DeflateAhead,
    check: Callable[[], None],
    mtime: int,
    progress: Progress | None,
    record: Record,
) -> None:
    """Store the listing's stored members, then splice in what ``ahead`` deflated; record each."""
    total = listing.count
    for done, member in enumerate(listing.stored, 1):
        check()  # a failure in the other thread (or a reason to stop) ends this too
        record(member.path, member.size, _add_stored(gz, member, mtime))
        if progress:
            progress(done, total)
    segment = ahead.result()
    gz.append_deflate(segment.spool, segment.crc, segment.length)
    for path in listing.unstored_names():
        record(path, ahead.sizes[path], segment.checksums[path])
    if progress:
        for done in range(listing.stored_count + 1, total + 1):
            progress(done, total)


def _check_read_back(
    tmp: Path,
    name: str,
    tail: tuple[int, bytes],
    written: Blob,
    listed: Listed,
    key: bytes | None,
) -> None:
    """Parse what was written with the reader's code; raise ArchiveError if it would refuse it.

    ``written`` is the manifest's bytes as written: those read back must be the
    same (the same size and SHA-256). SHA256SUMS must read, line by line, as
    ``listed``: each name in the archive's order with the SHA-256 made as it
    was written.
    """
    try:
        read, head, last = read_back(tmp, *tail)
        sums = last.get(CHECKSUMS_NAME)
        try:
            same = (head.size, head.sha256) == (written.size, written.sha256)
            problem = None if same else "the manifest reads back differently"
            if problem is None and not lists_in_order(sums, listed):
                problem = "SHA256SUMS reads back differently"
            if problem is None and key is not None:
                tag = last.get(TAG_NAME)
                problem = tag_problem(key, read, head, sums, tag.data() if tag else None)
        finally:
            for blob in (head, *last.values()):
                blob.close()
    except ArchiveError as exc:
        problem = str(exc)
    if problem is not None:
        raise ArchiveError(
            f"{name} was not kept: reading it back, its own reader refuses it ({problem})"
        )


def remove_temporaries(folder: str | PathLike[str]) -> list[str]:
    """Delete temporaries left in ``folder`` by an interrupted write; return their names."""
    removed: list[str] = []
    for path in Path(folder).glob(".*.tmp-*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


class _HashingRaw:
    """A write-only raw file that hashes and counts what passes through.

    Every ``FLUSH_EVERY`` bytes it asks a thread to flush what is written so
    far to the disk (``fdatasync``), so that the disk writes while the archive
    is still being made, and the final fsync has little left to wait for.
    """

    def __init__(self, raw: IO[bytes], digest: bool = True) -> None:
        self._raw = raw
        self.hash = hashlib.sha256() if digest else None
        self.size = 0
        self._flushed_at = 0
        self._flush = threading.Event()
        self._done = False
        self._flusher = threading.Thread(target=self._flush_loop, name="flush", daemon=True)
        self._flusher.start()

    def write(self, data: bytes | memoryview) -> int:
        n = self._raw.write(data)
        if self.hash is not None:
            self.hash.update(data[:n])
        self.size += n
        if self.size - self._flushed_at >= FLUSH_EVERY:
            self._flushed_at = self.size
            self._flush.set()
        return n

    def _flush_loop(self) -> None:
        while True:
            self._flush.wait()
            self._flush.clear()
            if self._done:
                return
            try:
                os.fdatasync(self._raw.fileno())
            except (OSError, ValueError):  # the final fsync reports what matters
                return

    def stop_flushing(self) -> None:
        """Stop the flushing thread (before the final fsync, and before the file is closed)."""
        self._done = True
        self._flush.set()
        self._flusher.join()

    def __enter__(self) -> "_HashingRaw":
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.stop_flushing()
        return False


def _add_blob(gz: GzipStreamWriter, path: str, blob: Blob, mtime: int) -> None:
    """Deflate a member whose bytes are a Blob, a chunk at a time."""
    gz.compress(tar_header(path, blob.size, mtime))
    for chunk in blob.chunks():
        gz.compress(chunk)
    gz.compress(padding(blob.size))


def _add_bytes(gz: GzipStreamWriter, path: str, data: bytes, mtime: int) -> str:
    """Deflate a small member held in memory; return its SHA-256."""
    gz.compress(tar_header(path, len(data), mtime) + data + padding(len(data)))
    return hashlib.sha256(data).hexdigest()


def _add_stored(gz: GzipStreamWriter, member: Member, mtime: int) -> str:
    """Store a member without compression, reading its source once; return its SHA-256."""
    gz.compress(tar_header(member.path, member.size, mtime))
    digest = hashlib.sha256()
    for chunk in read_source(member, STORE_CHUNK):
        digest.update(chunk)
        gz.store(chunk)
    gz.store(padding(member.size))
    return digest.hexdigest()
