"""Hash (and write) an archive's members in a second thread while the first one decompresses."""

import contextlib
import hashlib
import queue
import threading
from typing import IO, Any, Literal, NoReturn, cast

from app.archive.space import disk_full_as

EXTRACT_DISK_FULL = "disk full while extracting; nothing was changed"


class Sink:
    """Hash (and write) members' data in a second thread while the first one decompresses.

    The reading thread checks every member and opens its file (all safety checks
    stay there); this thread only hashes and writes what it is handed, through a
    short queue, so memory stays bounded. Its errors are raised in the reading
    thread at the next hand-over or at ``finish()``.
    """

    _DEPTH = 4  # chunks in flight (up to CHUNK bytes each)

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, Any, IO[bytes] | None]] = queue.Queue(self._DEPTH)
        self._done: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="archive-sink", daemon=True)
        self._thread.start()

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self._stop()
        return False

    def _hand(self, item: tuple[str, Any, IO[bytes] | None]) -> None:
        if self._error is not None:
            self._raise()
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._error is not None:
                    self._raise()

    def _raise(self) -> NoReturn:
        error, self._error = self._error, None
        raise cast(BaseException, error)

    def begin(self, member_name: str, out: IO[bytes] | None) -> None:
        """Start a member; ``out`` is its open file, or None to only hash it."""
        self._hand(("begin", member_name, out))

    def put(self, chunk: bytes) -> None:
        """Hand over the next chunk of the current member."""
        self._hand(("data", chunk, None))

    def end(self) -> None:
        """End the current member."""
        self._hand(("end", None, None))

    def take(self) -> list[tuple[str, str]]:
        """Return the (member, SHA-256) of the members ended since the last call, in order."""
        done = []
        with contextlib.suppress(queue.Empty):
            while True:
                done.append(self._done.get_nowait())
        return done

    def finish(self) -> list[tuple[str, str]]:
        """Wait for every chunk handed over; return what ``take`` has not, or raise the error."""
        self._stop()
        if self._error is not None:
            self._raise()
        return self.take()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(("stop", None, None))
            self._thread.join()

    def _run(self) -> None:
        name: str | None = None
        out: IO[bytes] | None = None
        digest: Any = None  # hashlib's sha256 object, between begin and end
        try:
            while True:
                kind, value, file = self._queue.get()
                if kind == "stop":
                    if out is not None:  # stopped mid-member: the reader failed
                        out.close()
                    break
                if kind == "begin":
                    name, out, digest = value, file, hashlib.sha256()
                elif kind == "data":
                    digest.update(value)
                    if out is not None:
                        with disk_full_as(EXTRACT_DISK_FULL):
                            out.write(value)
                else:
                    if out is not None:
                        with disk_full_as(EXTRACT_DISK_FULL):
                            out.close()
                    self._done.put((cast(str, name), digest.hexdigest()))
                    name = out = digest = None
        except BaseException as exc:  # handed to the reading thread
            self._error = exc
            if out is not None:
                with contextlib.suppress(OSError):
                    out.close()
            self._drain_after_error()

    def _drain_after_error(self) -> None:
        while True:
            kind, _value, file = self._queue.get()
            if kind == "stop":
                return
            if kind == "begin" and file is not None:
                file.close()
