"""Object storage (S3 and S3-compatible stores) for whatever must live off the machine.

Generic: knows buckets, keys, streams and checksums, nothing of backups or
exports (both use it). See ``app.storage.s3`` for the client and
``app.storage.age`` for client-side encryption.
"""

from app.storage.age import (
    EncryptionError,
    decrypt_stream,
    encrypt_stream,
    load_identities,
    parse_recipients,
)
from app.storage.s3 import (
    ObjectStore,
    RemoteObject,
    StorageError,
    parse_storage_url,
    same_checksum,
)

__all__ = [
    "EncryptionError",
    "ObjectStore",
    "RemoteObject",
    "StorageError",
    "decrypt_stream",
    "encrypt_stream",
    "load_identities",
    "parse_recipients",
    "parse_storage_url",
    "same_checksum",
]
