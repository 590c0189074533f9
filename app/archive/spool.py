"""A member read whole: its bytes in memory when small, else in a temporary file."""

import hashlib
import io
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

_CHUNK = 1024 * 1024


class Blob:
    """The bytes of one member, held in memory or spooled to an unnamed temporary file."""

    def __init__(self, chunks: Iterable[bytes], in_memory: bool) -> None:
        self._bytes: bytes | None = None
        self._file: IO[bytes] | None = None
        digest = hashlib.sha256()
        if in_memory:
            self._bytes = b"".join(chunks)
            digest.update(self._bytes)
            self.size = len(self._bytes)
        else:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
            self.size = 0
            for chunk in chunks:
                digest.update(chunk)
                self._file.write(chunk)
                self.size += len(chunk)
            self._file.flush()
        self.sha256 = digest.hexdigest()

    @property
    def spooled(self) -> bool:
        """Whether the bytes are in a temporary file rather than in memory."""
        return self._file is not None

    def file(self) -> IO[bytes]:
        """Return the temporary file, rewound (only when spooled)."""
        assert self._file is not None
        self._file.seek(0)
        return self._file

    def data(self) -> bytes:
        """Return all the bytes (read back into memory when spooled)."""
        if self._bytes is not None:
            return self._bytes
        return self.file().read()

    def chunks(self, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes up to ``end`` (all of them: None) in chunks."""
        end = self.size if end is None else end
        if self._bytes is not None:
            yield self._bytes[:end]
            return
        source = self.file()
        while end > 0:
            chunk = source.read(min(_CHUNK, end))
            if not chunk:
                return
            end -= len(chunk)
            yield chunk

    def lines(self) -> Iterator[bytes]:
        """Yield the lines one at a time, each with its line feed (the last one may lack it)."""
        if self._bytes is not None:
            return iter(io.BytesIO(self._bytes))
        return iter(self.file())

    def endswith(self, tail: bytes) -> bool:
        """Return whether the bytes end with ``tail``."""
        if self._bytes is not None:
            return self._bytes.endswith(tail)
        if len(tail) > self.size:
            return False
        source = self.file()
        source.seek(self.size - len(tail))
        return source.read() == tail

    def close(self) -> None:
        """Remove the temporary file, if any."""
        if self._file is not None:
            self._file.close()
