"""Multipart uploads, streamed: a write-only stream that becomes one object, part by part.

See ``app.storage.s3`` for the store it belongs to: ``ObjectStore.writer``
returns one.
"""

import base64
import collections
import concurrent.futures
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

from app.storage.errors import StorageError, composite_sha256, describe, same_checksum

if TYPE_CHECKING:
    from app.storage.s3 import ObjectStore, RemoteObject

log = logging.getLogger(__name__)


class OnPart(Protocol):
    """Told after each part the store took: its number (from 1) and the bytes written so far."""

    def __call__(self, number: int, size: int, /) -> None: ...


class MultipartWriter:
    """A write-only stream that becomes one object, sent part by part as it is written.

    ``sha256`` (hex, of every byte written), ``size``, ``parts`` and
    ``checksum`` (the store's composite SHA-256) are set once ``close()`` returns.
    Leaving a ``with`` block on an exception aborts the upload: no partial object.
    """

    def __init__(
        self,
        store: "ObjectStore",
        name: str,
        *,
        metadata: dict[str, str],
        on_part: OnPart | None,
    ) -> None:
        self.store, self.name, self.on_part = store, name, on_part
        self.buffer = bytearray()
        self.whole = hashlib.sha256()
        self.digests: list[bytes] = []
        self.etags: list[str] = []
        self.pending: collections.deque[tuple[int, Future[Any]]] = (
            collections.deque()
        )  # parts in flight, oldest first
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.size = 0
        self.sha256: str | None = None
        self.checksum: str | None = None
        self.closed = False
        self.error: StorageError | None = (
            None  # the StorageError that stopped the upload, kept for callers
        )
        self.upload_id: str = store._call(
            "start uploading",
            name,
            "create_multipart_upload",
            Key=store.key(name),
            ChecksumAlgorithm="SHA256",
            Metadata=metadata,
            ContentType="application/octet-stream",
        )["UploadId"]

    @property
    def parts(self) -> int:
        """How many parts were sent."""
        return len(self.etags)

    def writable(self) -> bool:
        """Say that this stream takes writes."""
        return True

    def write(self, data: bytes) -> int:
        """Take ``data``; send a part whenever a whole one is buffered."""
        self.buffer += data
        self.whole.update(data)
        self.size += len(data)
        while len(self.buffer) >= self.store.part_size:
            with memoryview(self.buffer) as view:
                part = bytes(view[: self.store.part_size])  # one copy, no temporary slice
            del self.buffer[: self.store.part_size]
            self._send(part)
        return len(data)

    def flush(self) -> None:
        """Nothing to flush before close (parts go as they fill)."""

    def _send(self, part: bytes) -> None:
        """Start sending ``part``; with ``concurrency`` parts in flight, wait for the oldest."""
        digest = hashlib.sha256(part).digest()
        self.digests.append(digest)
        number = len(self.digests)
        if self.store.concurrency <= 1:
            self._collect(number, lambda: self._upload_part(number, part, digest))
            return
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(
                self.store.concurrency, thread_name_prefix="s3-part"
            )
        future = self.pool.submit(self._upload_part, number, part, digest)
        self.pending.append((number, future))
        while len(self.pending) >= self.store.concurrency:
            self._collect(*self.pending.popleft())

    def _collect(self, number: int, answer: "Future[Any] | Callable[[], Any]") -> None:
        """Record the answer of part ``number`` (a future or a call), in part order."""
        try:
            etag: str = (answer.result() if hasattr(answer, "result") else answer())["ETag"]
        except StorageError as exc:
            self.error = exc  # a caller in between (pyrage) may replace the exception
            raise
        self.etags.append(etag)
        if self.on_part is not None:
            self.on_part(number, self.size)

    def _drain(self) -> None:
        while self.pending:
            self._collect(*self.pending.popleft())

    def _stop_pool(self) -> None:
        if self.pool is not None:
            for _, future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None
        self.pending.clear()

    def _upload_part(self, number: int, part: bytes, digest: bytes) -> Any:
        return self.store._call(
            f"upload part {number} of",
            self.name,
            "upload_part",
            Key=self.store.key(self.name),
            UploadId=self.upload_id,
            PartNumber=number,
            Body=part,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest).decode(),
        )

    def close(self) -> None:
        """Send the last part, complete the upload and check the store's checksum."""
        if self.closed:
            return
        if self.buffer or not self.digests:
            self._send(bytes(self.buffer))
            self.buffer.clear()
        try:
            self._drain()
        finally:
            self._stop_pool()
        parts = [
            {"PartNumber": i + 1, "ETag": etag, "ChecksumSHA256": base64.b64encode(d).decode()}
            for i, (etag, d) in enumerate(zip(self.etags, self.digests, strict=True))
        ]
        self.store._call(
            "finish uploading",
            self.name,
            "complete_multipart_upload",
            Key=self.store.key(self.name),
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )
        self.closed = True
        self.sha256 = self.whole.hexdigest()
        self.checksum = f"{composite_sha256(self.digests)}-{len(parts)}"
        stored = self.store.head(self.name)
        if stored is None or stored.size != self.size or not _checksum_matches(stored, self):
            self.store.delete(self.name)
            raise StorageError(
                f"{self.store.where(self.name)} does not hold what was sent "
                f"(size {stored.size if stored else None} for {self.size}, checksum "
                f"{stored.checksum if stored else None} for {self.checksum}); deleted it"
            )

    def abort(self) -> None:
        """Give up the upload; the store drops the parts already sent."""
        self.closed = True
        self._stop_pool()
        try:
            self.store.client.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self.store.key(self.name), UploadId=self.upload_id
            )
        except Exception as exc:  # the store may be the thing that failed
            log.warning("could not abort the upload of %s: %s", self.name, describe(exc))

    def __enter__(self) -> "MultipartWriter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            if not self.closed:  # failed before completing: drop the parts sent
                self.abort()
            raise


def _checksum_matches(stored: "RemoteObject", writer: MultipartWriter) -> bool:
    """Whether the store's checksum is our composite (or, from some stores, the whole SHA-256)."""
    # Both are set by close() before it asks.
    sha256, checksum = cast(str, writer.sha256), cast(str, writer.checksum)
    whole = base64.b64encode(bytes.fromhex(sha256)).decode()
    return same_checksum(checksum, stored.checksum) or stored.checksum == whole
