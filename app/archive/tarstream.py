"""A strict, linear reader of one-member ``.tar.gz`` streams: our own parser, not ``tarfile``'s.

Work is linear in the bytes and members of the archive, and memory is bounded
(decompressed output is produced a chunk at a time; the extended headers
before one entry are capped as a chain, not one by one). Nothing is inflated
past the end-of-archive blocks but the zeros that pad the last record.
Anything GNU tar might read differently from us is refused: a second gzip
member, bytes after the gzip stream that are not zeros, anything but those
zeros after the end-of-archive blocks, an old-style regular entry whose name
ends in ``/`` (which GNU tar takes for a directory), global or sparse
headers, and a header whose checksum does not match.
"""

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

from isal import isal_zlib

from app.archive.errors import CorruptArchive, UnsafeArchive
from app.archive.sums import name_from_bytes

BLOCK = 512
CHUNK = 1024 * 1024
RECORD = 20 * BLOCK  # tar writers pad the end-of-archive blocks with zeros up to a record
MAX_EXTENDED_CHAIN = 64 * 1024  # pax and GNU long-name headers before one entry, blocks included
_ZERO_BLOCK = bytes(BLOCK)
_GZIP = 31  # wbits for a gzip header and trailer
_RAW = -15  # wbits for raw deflate blocks
REGULAR = b"0"
OLD_REGULAR = b"\0"
DIRECTORY = b"5"
_KINDS = {
    b"1": "hard link",
    b"2": "symbolic link",
    b"3": "character device",
    b"4": "block device",
    b"6": "FIFO",
    b"S": "sparse file",
    b"K": "link with a long target",
    b"g": "global extended header",
}
# isal's stubs declare its ``error`` class as an instance of Exception.
_ERRORS = cast(
    tuple[type[BaseException], ...], (zlib.error, isal_zlib.error, OSError, ValueError, EOFError)
)


@dataclass(frozen=True)
class Entry:
    """One tar entry: a regular file or a directory, its name and size."""

    name: str
    size: int
    is_dir: bool


class Inflater:
    """Read decompressed bytes from a file holding one gzip member (or raw deflate blocks)."""

    def __init__(self, raw: IO[bytes], source: str, wbits: int = _GZIP) -> None:
        self._raw = raw
        self._source = source
        self._wbits = wbits
        self._inflate = isal_zlib.decompressobj(wbits=wbits)
        self._pending = b""
        self._buffer = b""
        self._pos = 0
        self.position = 0  # decompressed bytes read so far
        self.trailer = b""  # what followed the deflate stream (raw mode: the gzip trailer)

    def _fill(self) -> bool:
        """Decompress the next piece into the buffer; return False at the end of the stream."""
        while not self._inflate.eof:
            data = self._pending or self._raw.read(CHUNK)
            if not data:
                raise CorruptArchive(f"{self._source}: damaged archive (truncated)")
            try:
                out = self._inflate.decompress(data, CHUNK)
            except _ERRORS as exc:
                raise CorruptArchive(f"{self._source}: damaged archive ({exc})") from None
            self._pending = self._inflate.unconsumed_tail
            if out:
                self._buffer, self._pos = out, 0
                return True
        return False

    def read(self, size: int) -> bytes:
        """Return exactly ``size`` bytes, fewer only at the end of the stream."""
        available = len(self._buffer) - self._pos
        if size <= available:
            start, self._pos = self._pos, self._pos + size
            self.position += size
            return self._buffer[start : self._pos]
        parts = [self._buffer[self._pos :]]
        need = size - available
        self._buffer, self._pos = b"", 0
        while need and self._fill():
            part = self._buffer[:need]
            self._pos = len(part)
            parts.append(part)
            need -= len(part)
        data = b"".join(parts)
        self.position += len(data)
        return data

    def chunks(self, size: int) -> Iterator[bytes]:
        """Yield exactly ``size`` bytes in pieces of at most CHUNK; raise if the stream ends."""
        while size:
            piece = self.read(min(CHUNK, size))
            if not piece:
                raise CorruptArchive(f"{self._source}: damaged archive (truncated)")
            size -= len(piece)
            yield piece

    def finish(self) -> None:
        """Check that the stream ends here (and its CRC) and refuse what follows it.

        Nothing more is inflated: any decompressed byte left is refused.
        """
        if self.read(1):
            raise UnsafeArchive(f"{self._source}: refused data after the end-of-archive blocks")
        rest = self._inflate.unused_data + self._pending + self._raw.read(CHUNK)
        if self._wbits == _RAW:
            self.trailer, rest = rest[:8], rest[8:]
        while True:
            if rest.startswith(b"\x1f\x8b"):
                raise UnsafeArchive(f"{self._source}: refused a second gzip member")
            if rest.strip(b"\0"):
                raise UnsafeArchive(f"{self._source}: refused bytes after the end of the gzip data")
            rest = self._raw.read(CHUNK)
            if not rest:
                return


def _number(field: bytes, source: str) -> int:
    """Decode a tar numeric field (octal, or base-256 when the high bit is set)."""
    if field[:1] and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] != 0x80:
            raise CorruptArchive(f"{source}: damaged archive (negative number in a header)")
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise CorruptArchive(f"{source}: damaged archive (bad number in a header)") from None


def _cstring(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


_KEYS = (b"path", b"size")  # the pax keys we read; the others are checked and dropped


def _parse_extended(data: bytes, source: str, records: dict[str, bytes]) -> None:
    """Parse pax records ("<length> <key>=<value>\\n") into ``records`` ({key: bytes}).

    Only the keys we read are kept (and a mark for sparse files), so memory
    is bounded by the header's size whatever keys it holds.
    """
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise CorruptArchive(f"{source}: damaged archive (bad extended header)") from None
        record = data[space + 1 : pos + length]
        if length <= 0 or space < 0 or not record.endswith(b"\n") or b"=" not in record:
            raise CorruptArchive(f"{source}: damaged archive (bad extended header)")
        key, value = record[:-1].split(b"=", 1)
        if key.startswith(b"GNU.sparse"):
            records["GNU.sparse"] = b""
        elif key in _KEYS:
            records[key.decode()] = value
        pos += length


class TarReader:
    """Iterate the entries of a tar stream read from an Inflater, in one forward pass."""

    def __init__(self, inflater: Inflater, source: str) -> None:
        self._in = inflater
        self._source = source
        self._left = 0  # bytes of the current entry's data not read yet (padding included)
        self.ended = False

    def _fail(self, reason: str) -> CorruptArchive:
        return CorruptArchive(f"{self._source}: damaged archive ({reason})")

    def _block(self) -> bytes:
        block = self._in.read(BLOCK)
        if len(block) != BLOCK:
            raise self._fail("truncated: the tar stream ends inside a header")
        return block

    def _skip_rest(self) -> None:
        while self._left:
            piece = self._in.read(min(CHUNK, self._left))
            if not piece:
                raise self._fail("truncated")
            self._left -= len(piece)

    def next_entry(self) -> Entry | None:
        """Return the next Entry (None after the end-of-archive blocks), refusing other kinds."""
        self._skip_rest()
        extended: dict[str, bytes] = {}
        long_name: bytes | None = None
        start = self._in.position  # where this entry's headers begin
        while True:
            block = self._block()
            if block == _ZERO_BLOCK:
                if self._block() != _ZERO_BLOCK:
                    raise UnsafeArchive(f"{self._source}: refused an entry after a zero block")
                self._check_end()
                return None
            self._check_sum(block)
            kind = block[156:157]
            size = _number(block[124:136], self._source)
            if kind in (b"x", b"L"):
                chain = self._in.position - start + size + (-size % BLOCK)
                if chain > MAX_EXTENDED_CHAIN:
                    raise UnsafeArchive(
                        f"{self._source}: refused extended headers of more than "
                        f"{MAX_EXTENDED_CHAIN:,} bytes before one entry (at offset {start:,})"
                    )
                data = self._in.read(size)
                self._in.read(-size % BLOCK)
                if len(data) != size:
                    raise self._fail("truncated")
                if kind == b"L":
                    long_name = _cstring(data)
                else:
                    _parse_extended(data, self._source, extended)
                continue
            return self._entry(block, kind, size, extended, long_name)

    def _entry(
        self,
        block: bytes,
        kind: bytes,
        size: int,
        extended: dict[str, bytes],
        long_name: bytes | None,
    ) -> Entry:
        name = _cstring(block[0:100])
        if block[257:265] == b"ustar\x0000" and block[345:346] != b"\0":
            name = _cstring(block[345:500]) + b"/" + name
        name = extended.get("path", long_name if long_name is not None else name)
        if "size" in extended:
            try:
                size = int(extended["size"])
            except ValueError:
                raise self._fail("bad size in an extended header") from None
            if size < 0:
                raise self._fail("negative size in an extended header")
        text = name_from_bytes(name)
        if "GNU.sparse" in extended:
            kind = b"S"
        if kind == DIRECTORY:
            if size:
                raise UnsafeArchive(f"{self._source}: refused directory {text!r} with data")
            return Entry(text.rstrip("/"), 0, True)
        if kind not in (REGULAR, OLD_REGULAR):
            what = _KINDS.get(kind, f"member of type {kind!r}")
            raise UnsafeArchive(f"{self._source}: refused {what} {text!r}")
        if text.endswith("/"):
            raise UnsafeArchive(
                f"{self._source}: refused regular entry {text!r} whose name ends in '/' "
                "(GNU tar reads it as a directory)"
            )
        self._left = size + (-size % BLOCK)
        return Entry(text, size, False)

    def _check_sum(self, block: bytes) -> None:
        stored = _number(block[148:156], self._source)
        unsigned = sum(block) - sum(block[148:156]) + 8 * 32
        if stored == unsigned:
            return
        high = sum(1 for b in block[:148] + block[156:] if b > 127)
        if stored != unsigned - 256 * high:  # some old tars summed signed bytes
            raise self._fail("a tar header's checksum does not match")

    def _check_end(self) -> None:
        """After the end-of-archive blocks, only the zeros of one record, then the stream's end.

        Nothing more is inflated: a stream that goes on past them is refused,
        however well its zeros compress.
        """
        self.ended = True
        if self._in.read(RECORD).strip(b"\0"):
            raise UnsafeArchive(f"{self._source}: refused data after the end-of-archive blocks")
        self._in.finish()

    def data(self, entry: Entry) -> Iterator[bytes]:
        """Yield the data of ``entry`` (the entry just returned) in chunks."""
        for piece in self._in.chunks(entry.size):
            self._left -= len(piece)
            yield piece
