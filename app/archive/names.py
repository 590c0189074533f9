"""The names inside an archive: the reserved members, and which member names are safe."""

from app.archive.auth import TAG_NAME
from app.archive.errors import UnsafeArchive
from app.archive.sums import name_bytes

MANIFEST_NAME = "manifest.json"
CHECKSUMS_NAME = "SHA256SUMS"
RESERVED_NAMES = (MANIFEST_NAME, CHECKSUMS_NAME, TAG_NAME)
MAX_NAME_BYTES = 4096  # PATH_MAX on Linux
MAX_PART_BYTES = 255  # NAME_MAX on Linux


def check_member_path(name: object) -> str:
    """Return ``name`` if it is a safe relative POSIX path, else raise UnsafeArchive.

    Any name Linux allows is safe, backslashes and line breaks included; only
    NUL, empty, '.' and '..' parts, absolute names and over-long ones are not.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise UnsafeArchive(f"refused member name {name!r}")
    raw = name_bytes(name)
    if len(raw) > MAX_NAME_BYTES:
        raise UnsafeArchive(f"refused member name longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("/"):  # what PurePosixPath.is_absolute() tests, without its cost
        raise UnsafeArchive(f"refused absolute member name {name!r}")
    parts = raw.split(b"/")
    if any(part in (b"", b".", b"..") for part in parts):
        raise UnsafeArchive(f"refused member name {name!r} (empty, '.' or '..' part)")
    if any(len(part) > MAX_PART_BYTES for part in parts):
        raise UnsafeArchive(f"refused member name {name!r} (a part over {MAX_PART_BYTES} bytes)")
    return name
