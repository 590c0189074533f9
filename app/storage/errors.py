"""What the object store says when it refuses, and how its checksums compare."""

import base64
import hashlib
from collections.abc import Iterable

from app.errors import StinkyKittyError


class StorageError(StinkyKittyError):
    """The object store refused or could not be reached; the message says which and why."""


def composite_sha256(part_digests: Iterable[bytes]) -> str:
    """Return the store's checksum of an object uploaded in parts with these raw SHA-256s."""
    joined = hashlib.sha256(b"".join(part_digests)).digest()
    return base64.b64encode(joined).decode()


def same_checksum(ours: str, theirs: str | None) -> bool:
    """Whether the store's ``theirs`` ("abc=" or "abc=-3") records the checksum ``ours``."""
    return bool(theirs) and theirs is not None and theirs.split("-")[0] == ours.split("-")[0]


def describe(exc: BaseException) -> str:
    """Return a one-line account of what a boto3 call raised."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message') or 'refused'}"
    return f"{type(exc).__name__}: {exc}"
