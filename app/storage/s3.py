"""A small client for one ``s3://bucket/prefix`` location, over boto3.

Uploads are multipart and streamed: ``ObjectStore.writer`` returns a file-like
object that sends a part each time ``part_size`` bytes have been written, up to
``concurrency`` parts at once (a writer waits for the oldest when that many are
in flight), so memory holds a few parts whatever the size of the object. Every
part carries its SHA-256 (``ChecksumAlgorithm='SHA256'``), checked by the store on receipt;
after completing, the object's checksum as the store records it (the composite
SHA-256: the SHA-256 of the parts' digests, ``-N`` appended by S3) is compared
with the one computed here, and a mismatch deletes the object and fails the
upload (``app.storage.multipart``). Credentials come from boto3's usual
chain (``AWS_ACCESS_KEY_ID``, ...), or from the same names in the app's config.
"""

import base64
import builtins
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import IO, Any
from urllib.parse import urlparse

from app.storage.errors import StorageError, composite_sha256, describe, same_checksum
from app.storage.multipart import MultipartWriter, OnPart

DEFAULT_PART_SIZE = 16 * 1024 * 1024  # S3 takes parts of 5 MiB and more (but the last)
DEFAULT_CONCURRENCY = 4  # parts in flight: memory holds about this many parts, plus one
CREDENTIAL_KEYS = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
}


@dataclass(frozen=True)
class RemoteObject:
    """One object: its key relative to the prefix, size, checksum and metadata (when asked)."""

    name: str
    size: int
    last_modified: object = None
    checksum: str | None = None
    metadata: dict[str, str] | None = None


def parse_storage_url(url: str | None) -> tuple[str, str]:
    """Return (bucket, prefix) of ``s3://bucket/prefix``; raise StorageError for anything else."""
    parsed = urlparse(url or "")
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{url!r} is not an object storage URL (write s3://bucket/prefix)")
    prefix = parsed.path.strip("/")
    return parsed.netloc, (prefix + "/" if prefix else "")


class ObjectStore:
    """The objects under one bucket and prefix of an S3-compatible store."""

    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None = None,
        config: Mapping[str, Any] | None = None,
        part_size: int | None = None,
        concurrency: int | None = None,
        client: Any = None,
    ) -> None:
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
    def from_config(cls, config: Mapping[str, Any], setting: str) -> "ObjectStore":
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
    def client(self) -> Any:
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

    def key(self, name: str) -> str:
        """Return the full key of ``name``."""
        return self.prefix + name

    def where(self, name: str = "") -> str:
        """Return ``s3://bucket/prefix/name`` for messages."""
        return f"s3://{self.bucket}/{self.key(name)}"

    def _call(self, what: str, name: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            raise StorageError(f"cannot {what} {self.where(name)}: {describe(exc)}") from exc

    def writer(
        self,
        name: str,
        *,
        metadata: dict[str, str] | None = None,
        on_part: OnPart | None = None,
    ) -> MultipartWriter:
        """Return a MultipartWriter uploading to ``name`` (call ``close()`` to finish)."""
        return MultipartWriter(self, name, metadata=metadata or {}, on_part=on_part)

    def upload_file(
        self,
        name: str,
        path: str | PathLike[str],
        *,
        metadata: dict[str, str] | None = None,
        on_part: OnPart | None = None,
    ) -> MultipartWriter:
        """Upload the file at ``path`` as ``name`` in parts; return the finished writer."""
        with open(path, "rb") as source, self.writer(name, metadata=metadata, on_part=on_part) as w:
            while chunk := source.read(min(self.part_size, 1024 * 1024)):
                w.write(chunk)
        return w

    def head(self, name: str) -> RemoteObject | None:
        """Return the RemoteObject ``name`` with its checksum, or None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(
                Bucket=self.bucket, Key=self.key(name), ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"cannot read {self.where(name)}: {describe(exc)}") from exc
        except Exception as exc:
            raise StorageError(f"cannot read {self.where(name)}: {describe(exc)}") from exc
        return RemoteObject(
            name=name,
            size=head["ContentLength"],
            last_modified=head.get("LastModified"),
            checksum=head.get("ChecksumSHA256"),
            metadata=head.get("Metadata", {}),
        )

    def list(self, starting: str = "") -> list[RemoteObject]:
        """Return the RemoteObjects whose names start with ``starting``, sorted by name."""
        found: list[RemoteObject] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": self.key(starting)}
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

    def uploads(self, starting: str = "") -> builtins.list[tuple[str, str]]:
        """Return the unfinished multipart uploads under ``starting`` as [(name, upload id)]."""
        found: list[tuple[str, str]] = []
        markers: dict[str, str] = {}
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

    def abort_upload(self, name: str, upload_id: str) -> None:
        """Abort the unfinished multipart upload ``upload_id`` of ``name``: its parts go."""
        self._call(
            "abort the upload of",
            name,
            "abort_multipart_upload",
            Key=self.key(name),
            UploadId=upload_id,
        )

    def open(self, name: str) -> IO[bytes]:
        """Return a readable stream of the object ``name`` (close it when done)."""
        body: IO[bytes] = self._call("download", name, "get_object", Key=self.key(name))["Body"]
        return body

    def put_bytes(
        self, name: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
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

    def delete(self, name: str) -> None:
        """Delete the object ``name`` (no error when it is already gone)."""
        self._call("delete", name, "delete_object", Key=self.key(name))

    def presigned_url(self, name: str, *, expires: float, filename: str | None = None) -> str:
        """Return a URL that lets anyone holding it download ``name`` for ``expires`` seconds."""
        params = {"Bucket": self.bucket, "Key": self.key(name)}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        try:
            url: str = self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=int(expires)
            )
        except Exception as exc:
            raise StorageError(
                f"cannot sign a link to {self.where(name)}: {describe(exc)}"
            ) from exc
        return url


__all__ = [
    "MultipartWriter",
    "ObjectStore",
    "RemoteObject",
    "StorageError",
    "composite_sha256",
    "parse_storage_url",
    "same_checksum",
]
