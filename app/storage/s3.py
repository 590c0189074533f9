"""A small client for one ``s3://bucket/prefix`` location, over boto3.

Uploads are multipart and streamed: ``ObjectStore.writer`` returns a file-like
object that sends a part each time ``part_size`` bytes have been written, up to
``concurrency`` parts at once (a writer waits for the oldest when that many are
in flight), so memory holds a few parts whatever the size of the object. Every
part carries its SHA-256 (``ChecksumAlgorithm='SHA256'``), which the store checks on receipt;
after completing, the object's checksum as the store records it (the composite
SHA-256: the SHA-256 of the parts' digests, ``-N`` appended by S3) is compared
with the one computed here, and a mismatch deletes the object and fails the
upload. Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``, ...),
or from the same names in the app's config.
"""

import base64
import collections
import concurrent.futures
import hashlib
import logging
from dataclasses import dataclass
from urllib.parse import urlparse

log = logging.getLogger(__name__)

DEFAULT_PART_SIZE = 16 * 1024 * 1024  # S3 takes parts of 5 MiB and more (but the last)
DEFAULT_CONCURRENCY = 4  # parts in flight: memory holds about this many parts, plus one
CREDENTIAL_KEYS = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
}


class StorageError(Exception):
    """The object store refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class RemoteObject:
    """One object: its key relative to the prefix, size, checksum and metadata (when asked)."""

    name: str
    size: int
    last_modified: object = None
    checksum: str | None = None
    metadata: dict | None = None


def parse_storage_url(url):
    """Return (bucket, prefix) of ``s3://bucket/prefix``; raise StorageError for anything else."""
    parsed = urlparse(url or "")
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{url!r} is not an object storage URL (write s3://bucket/prefix)")
    prefix = parsed.path.strip("/")
    return parsed.netloc, (prefix + "/" if prefix else "")


def composite_sha256(part_digests):
    """Return the store's checksum of an object uploaded in parts with these raw SHA-256s."""
    joined = hashlib.sha256(b"".join(part_digests)).digest()
    return base64.b64encode(joined).decode()


def same_checksum(ours, theirs):
    """Whether the store's ``theirs`` ("abc=" or "abc=-3") records the checksum ``ours``."""
    return bool(theirs) and theirs.split("-")[0] == ours.split("-")[0]


def _describe(exc):
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message') or 'refused'}"
    return f"{type(exc).__name__}: {exc}"


class ObjectStore:
    """The objects under one bucket and prefix of an S3-compatible store."""

    def __init__(
        self, url, *, endpoint=None, config=None, part_size=None, concurrency=None, client=None
    ):
        self.url = url
        self.bucket, self.prefix = parse_storage_url(url)
        self.endpoint = endpoint or None
        self.part_size = int(part_size or DEFAULT_PART_SIZE)
        self.concurrency = max(1, int(concurrency or DEFAULT_CONCURRENCY))
        self._client = client
        self._credentials = {
            arg: config.get(key)
            for key, arg in CREDENTIAL_KEYS.items()
            if config and config.get(key)
        }
        self._region = (config or {}).get("AWS_DEFAULT_REGION") or None

    @classmethod
    def from_config(cls, config, setting):
        """Return the store that config ``<setting>_URL`` and ``<setting>_ENDPOINT`` name.

        Parts and concurrency of every store follow BACKUP_STORAGE_PART_SIZE and
        BACKUP_STORAGE_CONCURRENCY.
        """
        return cls(
            config[f"{setting}_URL"],
            endpoint=config.get(f"{setting}_ENDPOINT"),
            config=config,
            part_size=config.get("BACKUP_STORAGE_PART_SIZE"),
            concurrency=config.get("BACKUP_STORAGE_CONCURRENCY"),
        )

    @property
    def client(self):
        """The boto3 S3 client (made on first use)."""
        if self._client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=self._region,
                config=BotoConfig(
                    signature_version="s3v4",  # presigned links too: newer regions refuse SigV2
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=120,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
                **self._credentials,
            )
        return self._client

    def key(self, name):
        """Return the full key of ``name``."""
        return self.prefix + name

    def where(self, name=""):
        """Return ``s3://bucket/prefix/name`` for messages."""
        return f"s3://{self.bucket}/{self.key(name)}"

    def _call(self, what, name, method, **kwargs):
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            raise StorageError(f"cannot {what} {self.where(name)}: {_describe(exc)}") from exc

    def writer(self, name, *, metadata=None, on_part=None):
        """Return a MultipartWriter uploading to ``name`` (call ``close()`` to finish)."""
        return MultipartWriter(self, name, metadata=metadata or {}, on_part=on_part)

    def upload_file(self, name, path, *, metadata=None, on_part=None):
        """Upload the file at ``path`` as ``name`` in parts; return the finished writer."""
        with open(path, "rb") as source, self.writer(name, metadata=metadata, on_part=on_part) as w:
            while chunk := source.read(min(self.part_size, 1024 * 1024)):
                w.write(chunk)
        return w

    def head(self, name):
        """Return the RemoteObject ``name`` with its checksum, or None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(
                Bucket=self.bucket, Key=self.key(name), ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"cannot read {self.where(name)}: {_describe(exc)}") from exc
        except Exception as exc:
            raise StorageError(f"cannot read {self.where(name)}: {_describe(exc)}") from exc
        return RemoteObject(
            name=name,
            size=head["ContentLength"],
            last_modified=head.get("LastModified"),
            checksum=head.get("ChecksumSHA256"),
            metadata=head.get("Metadata", {}),
        )

    def list(self, starting=""):
        """Return the RemoteObjects whose names start with ``starting``, sorted by name."""
        found = []
        token = None
        while True:
            kwargs = {"Prefix": self.key(starting)}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list", starting, "list_objects_v2", **kwargs)
            for item in page.get("Contents", []):
                found.append(
                    RemoteObject(
                        name=item["Key"][len(self.prefix) :],
                        size=item["Size"],
                        last_modified=item.get("LastModified"),
                    )
                )
            if not page.get("IsTruncated"):
                return sorted(found, key=lambda o: o.name)
            token = page["NextContinuationToken"]

    def uploads(self, starting=""):
        """Return the unfinished multipart uploads under ``starting`` as [(name, upload id)]."""
        found = []
        markers = {}
        while True:
            page = self._call(
                "list the unfinished uploads in",
                starting,
                "list_multipart_uploads",
                Prefix=self.key(starting),
                **markers,
            )
            for item in page.get("Uploads", []):
                found.append((item["Key"][len(self.prefix) :], item["UploadId"]))
            if not page.get("IsTruncated"):
                return found
            markers = {
                "KeyMarker": page["NextKeyMarker"],
                "UploadIdMarker": page["NextUploadIdMarker"],
            }

    def abort_upload(self, name, upload_id):
        """Abort the unfinished multipart upload ``upload_id`` of ``name``: its parts go."""
        self._call(
            "abort the upload of",
            name,
            "abort_multipart_upload",
            Key=self.key(name),
            UploadId=upload_id,
        )

    def open(self, name):
        """Return a readable stream of the object ``name`` (close it when done)."""
        return self._call("download", name, "get_object", Key=self.key(name))["Body"]

    def put_bytes(self, name, data, *, content_type="application/octet-stream"):
        """Store a small object in one request, with its SHA-256 checked by the store."""
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        self._call(
            "upload",
            name,
            "put_object",
            Key=self.key(name),
            Body=data,
            ContentType=content_type,
            ChecksumSHA256=digest,
        )

    def delete(self, name):
        """Delete the object ``name`` (no error when it is already gone)."""
        self._call("delete", name, "delete_object", Key=self.key(name))

    def presigned_url(self, name, *, expires, filename=None):
        """Return a URL that lets anyone holding it download ``name`` for ``expires`` seconds."""
        params = {"Bucket": self.bucket, "Key": self.key(name)}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        try:
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=int(expires)
            )
        except Exception as exc:
            raise StorageError(
                f"cannot sign a link to {self.where(name)}: {_describe(exc)}"
            ) from exc


class MultipartWriter:
    """A write-only stream that becomes one object, sent part by part as it is written.

    ``sha256`` (hex, of every byte written), ``size``, ``parts`` and
    ``checksum`` (the store's composite SHA-256) are set once ``close()`` returns.
    Leaving a ``with`` block on an exception aborts the upload: no partial object.
    """

    def __init__(self, store, name, *, metadata, on_part):
        self.store, self.name, self.on_part = store, name, on_part
        self.buffer = bytearray()
        self.whole = hashlib.sha256()
        self.digests, self.etags = [], []
        self.pending = collections.deque()  # parts in flight, oldest first
        self.pool = None
        self.size = 0
        self.sha256 = self.checksum = None
        self.closed = False
        self.error = None  # the StorageError that stopped the upload, kept for callers
        self.upload_id = store._call(
            "start uploading",
            name,
            "create_multipart_upload",
            Key=store.key(name),
            ChecksumAlgorithm="SHA256",
            Metadata=metadata,
            ContentType="application/octet-stream",
        )["UploadId"]

    @property
    def parts(self):
        """How many parts were sent."""
        return len(self.etags)

    def writable(self):
        """Say that this stream takes writes."""
        return True

    def write(self, data):
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

    def flush(self):
        """Nothing to flush before close (parts go as they fill)."""

    def _send(self, part):
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

    def _collect(self, number, answer):
        """Record the answer of part ``number`` (a future or a call), in part order."""
        try:
            etag = (answer.result() if hasattr(answer, "result") else answer())["ETag"]
        except StorageError as exc:
            self.error = exc  # a caller in between (pyrage) may replace the exception
            raise
        self.etags.append(etag)
        if self.on_part is not None:
            self.on_part(number, self.size)

    def _drain(self):
        while self.pending:
            self._collect(*self.pending.popleft())

    def _stop_pool(self):
        if self.pool is not None:
            for _, future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None
        self.pending.clear()

    def _upload_part(self, number, part, digest):
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

    def close(self):
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

    def abort(self):
        """Give up the upload; the store drops the parts already sent."""
        self.closed = True
        self._stop_pool()
        try:
            self.store.client.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self.store.key(self.name), UploadId=self.upload_id
            )
        except Exception as exc:  # the store may be the thing that failed
            log.warning("could not abort the upload of %s: %s", self.name, _describe(exc))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            if not self.closed:  # failed before completing: drop the parts sent
                self.abort()
            raise


def _checksum_matches(stored, writer):
    """Whether the store's checksum is our composite (or, from some stores, the whole SHA-256)."""
    whole = base64.b64encode(bytes.fromhex(writer.sha256)).decode()
    return same_checksum(writer.checksum, stored.checksum) or stored.checksum == whole
