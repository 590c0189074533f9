"""Deflating the compressible members in a thread while the writer stores the media."""

import hashlib
import shutil
import tempfile
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

from isal import isal_zlib

from app.archive.errors import ArchiveError
from app.archive.members import CHUNK as COPY_CHUNK
from app.archive.members import Member, Stream, padding, read_source, tar_header

# Text (JSON lines) is deflated by zlib in its own thread while the writer stores
# the media. Measured on a 332 MB backup (31 MB of text): level 3 took 0.22 s and
# left the archive 1.25% larger than `tar czf`'s; level 7 takes 0.62 s, still
# hidden behind the media, and the archive is 0.99% larger (level 6: 1.004%; 8
# and 9 cost more time for under 0.01%). The rest of the gap is the media, which
# gzip -6 shrinks by about 1% and which we store: deflating them would cost more
# CPU than everything else the writer does.
TEXT_LEVEL = 7


@dataclass
class Segment:
    """What the thread deflated: raw deflate blocks in ``spool``, and what they hold."""

    spool: IO[bytes]
    crc: int
    length: int
    checksums: dict[str, str]


class DeflateAhead:
    """Deflate members (headers, data, padding) in a thread into a spool file.

    The spool holds raw deflate blocks ending on a byte boundary with a sync
    flush, so they can be spliced into the archive's deflate stream as they are.
    ``members`` may be any iterable, even one that blocks until each member is
    ready; ``paths``, when given, is the order they must come in.
    """

    def __init__(
        self,
        members: Iterable[Member | Stream],
        spool_path: Path,
        mtime: int,
        paths: list[str] | None = None,
    ) -> None:
        self.members = members
        self._paths = paths
        self._spool_path = spool_path
        self._mtime = mtime
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._segment: Segment | None = None
        self.sizes: dict[str, int] = {}  # path: size of each member deflated
        self._thread = threading.Thread(target=self._run, name="deflate-ahead", daemon=True)

    def __enter__(self) -> "DeflateAhead":
        self._spool = open(self._spool_path, "w+b")
        self._spool_path.unlink()  # anonymous from now on: a crash leaves nothing behind
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self._stop.set()
        self._thread.join()
        self._spool.close()
        return False

    def _run(self) -> None:
        try:
            self._deflater = self._fresh()
            checksums: dict[str, str] = {}
            self._crc, self._length = 0, 0
            for member in self.members:
                if self._paths is not None and self._paths[len(checksums) :][:1] != [member.path]:
                    raise ArchiveError(f"{member.path}: not the member announced next")
                if isinstance(member, Stream):
                    digest = self._put_stream(member)
                else:
                    digest = self._put_member(member)
                if digest is None:
                    return  # told to stop
                checksums[member.path] = digest
            if self._paths is not None and len(checksums) != len(self._paths):
                raise ArchiveError("fewer members came than were announced")
            self._spool.write(self._deflater.flush(zlib.Z_SYNC_FLUSH))
            self._spool.flush()
            self._segment = Segment(self._spool, self._crc, self._length, checksums)
        except BaseException as exc:  # handed to the writing thread by check() and result()
            self._error = exc

    @staticmethod
    def _fresh() -> Any:
        return zlib.compressobj(TEXT_LEVEL, zlib.DEFLATED, -15)

    def _put(self, data: bytes | memoryview) -> None:
        self._crc = isal_zlib.crc32(data, self._crc)
        self._length += len(data)
        self._spool.write(self._deflater.compress(data))

    def _put_member(self, member: Member) -> str | None:
        """Deflate a member of known size; return its SHA-256 (None if told to stop)."""
        self.sizes[member.path] = member.size
        self._put(tar_header(member.path, member.size, self._mtime))
        digest = hashlib.sha256()
        for chunk in read_source(member):
            if self._stop.is_set():
                return None
            digest.update(chunk)
            self._put(chunk)
        self._put(padding(member.size))
        return digest.hexdigest()

    def _put_stream(self, stream: Stream) -> str | None:
        """Deflate a stream as it comes; return its SHA-256 (None if told to stop).

        Its tar header, which holds its size, must come first: the data are
        deflated by a compressor of their own into a side file meanwhile, then
        spliced in after the header. The data's run refers to nothing before
        it, and what follows it starts a fresh compressor too.
        """
        digest, crc, size = hashlib.sha256(), 0, 0
        deflater = self._fresh()
        with tempfile.TemporaryFile(dir=self._spool_path.parent) as side:
            for chunk in stream.chunks:
                if self._stop.is_set():
                    return None
                digest.update(chunk)
                crc = isal_zlib.crc32(chunk, crc)
                size += len(chunk)
                side.write(deflater.compress(chunk))
            side.write(deflater.flush(zlib.Z_SYNC_FLUSH))
            self.sizes[stream.path] = size
            self._put(tar_header(stream.path, size, self._mtime))
            self._spool.write(self._deflater.flush(zlib.Z_SYNC_FLUSH))
            side.seek(0)
            shutil.copyfileobj(side, self._spool, COPY_CHUNK)
        self._crc = isal_zlib.crc32_combine(self._crc, crc, size)
        self._length += size
        self._deflater = self._fresh()
        self._put(padding(size))
        return digest.hexdigest()

    def check(self) -> None:
        """Raise the thread's error, if it has failed already (without waiting)."""
        if self._error is not None:
            raise self._error

    def result(self) -> Segment:
        """Wait for the thread; return its segment or raise its error."""
        self._thread.join()
        self.check()
        segment = cast(Segment, self._segment)  # set when the thread ended without error
        segment.spool.seek(0)
        return segment
