"""The archive format: self-describing, checksummed ``.tar.gz`` files.

Written atomically in one pass (``writer``), read without trusting them
(``reader``), with our own gzip stream (``gzipstream``) and the disk-space and
durability helpers both sides need (``space``). Used by system backups and site
exports alike. It imports nothing of the application: no models, no config, no
Flask, SQLAlchemy or Celery; the format is documented in docs/archive-format.md.
"""

from app.archive import space
from app.archive.auth import TAG_NAME, key_id
from app.archive.errors import (
    ArchiveError,
    CorruptArchive,
    NotEnoughSpace,
    Unauthenticated,
    UnsafeArchive,
)
from app.archive.members import (
    Authentication,
    Manifest,
    ManifestFile,
    Progress,
    Stream,
    member_count,
)
from app.archive.names import CHECKSUMS_NAME, MANIFEST_NAME, MAX_NAME_BYTES, check_member_path
from app.archive.peek import read_member
from app.archive.reader import FORMAT_VERSION, extract_archive, read_manifest, verify_archive
from app.archive.space import check_space, free_space, fsync_dir, human_size, is_disk_full
from app.archive.sums import checksums_size, name_bytes, parse_checksums
from app.archive.trees import make_dirs, remove_tree, walk
from app.archive.writer import (
    ArchiveResult,
    Late,
    Member,
    RoomExceeded,
    remove_temporaries,
    write_archive,
)

__all__ = [
    "CHECKSUMS_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_NAME_BYTES",
    "TAG_NAME",
    "ArchiveError",
    "ArchiveResult",
    "Authentication",
    "CorruptArchive",
    "Late",
    "Manifest",
    "ManifestFile",
    "Member",
    "NotEnoughSpace",
    "Progress",
    "RoomExceeded",
    "Stream",
    "Unauthenticated",
    "UnsafeArchive",
    "check_member_path",
    "check_space",
    "checksums_size",
    "extract_archive",
    "free_space",
    "fsync_dir",
    "human_size",
    "is_disk_full",
    "key_id",
    "make_dirs",
    "member_count",
    "name_bytes",
    "parse_checksums",
    "read_manifest",
    "read_member",
    "remove_temporaries",
    "remove_tree",
    "space",
    "verify_archive",
    "walk",
    "write_archive",
]
