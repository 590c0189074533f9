"""A single-member gzip writer that stores what does not compress.

Media (JPEG, PNG, video) are already compressed: deflating them again burns CPU
for nothing. This writer emits one standard gzip member whose deflate stream
mixes *stored* blocks (for incompressible data, at the speed of a copy) with
blocks compressed by isal (for text). Any gzip reader (``tar xzf``, Python's
``gzip`` and ``tarfile``) reads the result. One member only: Python's
``tarfile`` stream mode silently stops after the first member of a multi-member
gzip file.
"""

import struct
import time
from collections.abc import Iterable
from typing import IO, Any

from isal import isal_zlib

COMPRESS_LEVEL = 3  # isal levels 0-3; 3 compresses JSON text about as well as gzip -6
_STORED_MAX = 0xFFFF  # the longest stored deflate block
_SYNC_FLUSH = isal_zlib.Z_SYNC_FLUSH
_COPY_CHUNK = 1024 * 1024

Data = bytes | bytearray | memoryview


class GzipStreamWriter:
    """Write one gzip member to a raw binary file, compressing or storing per call."""

    def __init__(self, raw: Any, level: int = COMPRESS_LEVEL, mtime: float | None = None) -> None:
        self._raw = raw
        self._level = level
        self._deflater: Any = None  # isal's compressor, during a deflate run
        self._crc = 0
        self._size = 0
        self.compressed_size = 0  # bytes written to ``raw`` so far
        self._buffer = bytearray()
        header = struct.pack(
            "<BBBBIBB", 0x1F, 0x8B, 8, 0, int(mtime if mtime is not None else time.time()), 0, 255
        )
        self._out(header)

    def _out(self, data: Data) -> None:
        view = memoryview(data)
        while view:
            written = self._raw.write(view)
            view = view[written:]
        self.compressed_size += len(data)

    def _account(self, data: Data) -> None:
        self._crc = isal_zlib.crc32(data, self._crc)
        self._size += len(data)

    def compress(self, data: Data) -> None:
        """Append ``data`` as deflated blocks."""
        if not data:
            return
        self._account(data)
        if self._deflater is None:
            self._deflater = isal_zlib.compressobj(self._level, isal_zlib.DEFLATED, -15)
        out = self._deflater.compress(data)
        if out:
            self._out(out)

    def _end_deflate_run(self) -> None:
        # A sync flush ends on a byte boundary with a non-final block, so other
        # blocks may follow. The next run starts a fresh compressor: its
        # back-references must never reach into data it did not see.
        if self._deflater is not None:
            self._out(self._deflater.flush(_SYNC_FLUSH))
            self._deflater = None

    def store(self, data: Data) -> None:
        """Append ``data`` as stored (uncompressed) deflate blocks."""
        if not data:
            return
        self._end_deflate_run()
        self._account(data)
        size = len(memoryview(data).cast("B"))
        needed = size + 5 * -(-size // _STORED_MAX)
        if len(self._buffer) < needed:
            self._buffer = bytearray(needed)
        # One write per call: each block's 5-byte header and data copied into one buffer.
        self._out(memoryview(self._buffer)[: _pack_stored(data, self._buffer)])

    def reserve(self, size: int) -> int:
        """Leave ``size`` bytes for a run made later (see ``padded_run``); return its offset.

        Must come first, before any other data; the bytes written now are
        placeholders. Once the run is written over them at that offset,
        ``prepend(crc, length)`` accounts for what it holds.
        """
        if self._size or self._deflater is not None:
            raise ValueError("reserve() must come before any data")
        offset = self.compressed_size
        self._out(bytes(size))
        return offset

    def prepend(self, crc: int, length: int) -> None:
        """Account for ``length`` uncompressed bytes (CRC-32 ``crc``) placed before all the rest."""
        self._crc = isal_zlib.crc32_combine(crc, self._crc, self._size)
        self._size += length

    def end_run(self) -> int:
        """End the current deflate run; return the offset in the file where the next one starts.

        What follows is a fresh deflate run that refers to nothing before it, so a
        reader can inflate from this offset on (raw deflate) to the end.
        """
        self._end_deflate_run()
        return self.compressed_size

    @property
    def uncompressed_size(self) -> int:
        """Return how many bytes have been written so far, before compression."""
        return self._size

    def append_deflate(self, spool: IO[bytes], crc: int, length: int) -> None:
        """Splice in raw deflate blocks read from ``spool`` (ending on a byte boundary).

        ``crc`` and ``length`` describe the uncompressed bytes those blocks hold.
        """
        self._end_deflate_run()
        while chunk := spool.read(_COPY_CHUNK):
            self._out(chunk)
        self._crc = isal_zlib.crc32_combine(self._crc, crc, length)
        self._size += length

    def close(self) -> bytes:
        """Finish the deflate stream and write the gzip trailer; return the trailer.

        The raw file stays open.
        """
        self._end_deflate_run()
        self._out(b"\x01\x00\x00\xff\xff")  # final, empty stored block
        trailer = struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF)
        self._out(trailer)
        return trailer


def _pack_stored(data: Data, out: bytearray) -> int:
    """Write ``data`` as stored deflate blocks into the bytearray ``out``; return the length."""
    view = memoryview(data).cast("B")
    size, pos = len(view), 0
    for start in range(0, size, _STORED_MAX):
        n = min(_STORED_MAX, size - start)
        out[pos : pos + 5] = struct.pack("<BHH", 0, n, n ^ 0xFFFF)
        out[pos + 5 : pos + 5 + n] = view[start : start + n]
        pos += 5 + n
    return pos


def stored_blocks(data: bytes) -> bytes:
    """Return ``data`` as stored (uncompressed) deflate blocks."""
    out = bytearray(len(data) + 5 * -(-len(data) // _STORED_MAX))
    return bytes(out[: _pack_stored(data, out)])


def deflated_run(data: bytes | Iterable[bytes], level: int = COMPRESS_LEVEL) -> bytes:
    """Return ``data`` (bytes, or chunks) deflated by a fresh compressor, ending on a byte
    boundary (sync flush)."""
    deflater = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
    chunks = [data] if isinstance(data, bytes) else data
    out = bytearray()
    for chunk in chunks:
        out += deflater.compress(chunk)
    out += deflater.flush(_SYNC_FLUSH)
    return bytes(out)


def padded_run(run: bytes, size: int) -> bytes | None:
    """Return ``run`` padded with empty stored blocks to exactly ``size`` bytes, or None."""
    rest = size - len(run)
    if rest < 0 or rest % len(EMPTY_STORED_BLOCK):
        return None
    return run + EMPTY_STORED_BLOCK * (rest // len(EMPTY_STORED_BLOCK))


EMPTY_STORED_BLOCK = b"\x00\x00\x00\xff\xff"  # a non-final stored block of no bytes
