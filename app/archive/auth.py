"""Authentication tags: an HMAC-SHA256 over an archive's manifest and checksum list.

The checksums prove only that an archive is self-consistent; anyone able to
write a file could make a consistent one. The tag proves that whoever wrote
the manifest and SHA256SUMS (and so, through them, every member) held the key.
The key is given as bytes by the caller; this module knows nothing of where it
is kept. The tag is the member ``HMAC-SHA256`` (hex and a line feed), written
just before SHA256SUMS. The manifest declares it in its ``authentication``
field (algorithm, member name, a short non-secret id of the key) rather than
in ``files``, which lists the caller's members and SHA256SUMS. It covers the
manifest's bytes and SHA256SUMS without its last line (the tag's own checksum),
so SHA256SUMS still checks every member with ``sha256sum -c``.
"""

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from app.archive.members import Authentication, Manifest
from app.archive.spool import Blob
from app.archive.sums import checksum_line

TAG_NAME = "HMAC-SHA256"
TAG_SIZE = 65
_DOMAIN = b"stinkykitty-archive-tag\0"


def key_id(key: bytes) -> str:
    """Return a short public name of ``key`` (its hash, not the key), to tell keys apart."""
    return hashlib.sha256(b"stinkykitty-key-id\0" + key).hexdigest()[:16]


def authentication_field(key: bytes) -> Authentication:
    """Return the manifest's ``authentication`` field for archives tagged with ``key``."""
    return {"algorithm": "HMAC-SHA256", "member": TAG_NAME, "key_id": key_id(key)}


def make_tag(key: bytes, manifest_bytes: bytes | Blob, sums: bytes | Iterable[bytes]) -> bytes:
    """Return the tag member's bytes over ``manifest_bytes`` and the checksum lines ``sums``.

    The manifest is given as bytes or a Blob; ``sums``, the SHA256SUMS text
    before the tag's own line, whole or in chunks.
    """
    chunks = [sums] if isinstance(sums, bytes) else sums
    return _tag(key, _size(manifest_bytes), _chunks(manifest_bytes), chunks)


def _tag(key: bytes, manifest_size: int, manifest: Iterable[bytes], sums: Iterable[bytes]) -> bytes:
    """Return the tag over the manifest and checksums given as chunks."""
    mac = hmac.new(key, _DOMAIN, hashlib.sha256)
    mac.update(manifest_size.to_bytes(8, "big"))
    for chunk in manifest:
        mac.update(chunk)
    for chunk in sums:
        mac.update(chunk)
    return (mac.hexdigest() + "\n").encode("ascii")


def _size(data: bytes | Blob) -> int:
    return data.size if isinstance(data, Blob) else len(data)


def _chunks(data: bytes | Blob, end: int | None = None) -> Iterable[bytes]:
    if isinstance(data, Blob):
        return data.chunks(end)
    return [data if end is None else data[:end]]


def tag_problem(
    key: bytes,
    manifest: Manifest,
    manifest_bytes: bytes | Blob,
    sums_bytes: bytes | Blob | None,
    tag_bytes: bytes | None,
) -> str | None:
    """Return why the archive is not authenticated by ``key`` (None when it is).

    The manifest and checksums are given as bytes, or as Blobs when spooled to disk.
    """
    if tag_bytes is None:
        return "it carries no authentication tag (made before archives were authenticated?)"
    own_line = checksum_line(TAG_NAME, hashlib.sha256(tag_bytes).hexdigest())
    if sums_bytes is None or not sums_bytes.endswith(own_line):
        return f"SHA256SUMS does not end with the checksum of {TAG_NAME}"
    covered = _chunks(sums_bytes, _size(sums_bytes) - len(own_line))
    tag = _tag(key, _size(manifest_bytes), _chunks(manifest_bytes), covered)
    if hmac.compare_digest(tag, tag_bytes):
        return None
    field: dict[str, Any] = manifest.get("authentication") or {}
    listed = field.get("key_id")
    if listed and listed != key_id(key):
        return f"its tag was made with another key (key id {listed}, this key is {key_id(key)})"
    return "its authentication tag does not match (forged or altered)"
