"""Self-describing, checksummed ``.tar.gz`` archives, written atomically in one pass.

Layout, in this order:

- ``manifest.json``: the caller's metadata plus ``files``, the path and size of
  every other member, known before a byte is written, so a reader can refuse
  unlisted or oversized members before extracting anything;
- every member, each read exactly once and hashed while it is written;
- ``SHA256SUMS``: the SHA-256 of every member, manifest included, in the format
  ``sha256sum -c`` reads.

Both system backups and site exports are written with ``write_archive`` and read
with the functions of ``app.backup.archive_reader`` (re-exported here).
"""

import errno
import hashlib
import json
import mimetypes
import os
import secrets
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from isal import isal_zlib

from app.backup.archive_reader import (
    CHECKSUMS_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    check_member_path,
    extract_archive,
    read_manifest,
    verify_archive,
)
from app.backup.errors import BackupError, NotEnoughSpace
from app.backup.gzipstream import GzipStreamWriter

__all__ = [
    "ArchiveResult",
    "Member",
    "extract_archive",
    "read_manifest",
    "verify_archive",
    "write_archive",
]

CHUNK = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
PROBE = 64 * 1024
INCOMPRESSIBLE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic", ".mp4", ".m4v", ".mov",
    ".webm", ".mkv", ".mp3", ".m4a", ".ogg", ".opus", ".zip", ".gz", ".tgz", ".bz2", ".xz",
    ".zst", ".7z", ".pdf", ".docx", ".xlsx", ".pptx", ".odt", ".woff", ".woff2",
}  # fmt: skip


@dataclass(frozen=True)
class Member:
    """One file to put in an archive: its name inside, exact size, and where its bytes come from."""

    path: str
    size: int
    source: Path | bytes
    compressible: bool | None = None


@dataclass(frozen=True)
class ArchiveResult:
    """What ``write_archive`` wrote."""

    path: Path
    size: int
    sha256: str
    checksums: dict[str, str]


def checksums_size(paths):
    """Return the exact size of the SHA256SUMS member listing ``paths``."""
    return sum(64 + 2 + len(p.encode("utf-8")) + 1 for p in paths)


def write_archive(
    final_path,
    meta: dict,
    members: Iterable[Member],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ArchiveResult:
    """Write ``members`` under ``meta`` as one ``.tar.gz`` at ``final_path``, atomically."""
    final_path = Path(final_path)
    members = list(members)
    names = [m.path for m in members]
    for name in names:
        check_member_path(name)
    if len(set(names)) != len(names) or {MANIFEST_NAME, CHECKSUMS_NAME} & set(names):
        raise BackupError("archive members must have distinct names, none reserved")

    summed = [MANIFEST_NAME, *names]
    files = [{"path": m.path, "size": m.size} for m in members]
    files.append({"path": CHECKSUMS_NAME, "size": checksums_size(summed)})
    manifest = {**meta, "format_version": FORMAT_VERSION, "files": files}
    manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None

    tmp = final_path.with_name(f".{final_path.name}.tmp-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        with os.fdopen(fd, "wb", buffering=0) as raw:
            archive_hash = _HashingRaw(raw)
            gz = GzipStreamWriter(archive_hash, mtime=mtime)
            writer = _TarWriter(gz, mtime)
            checksums = {MANIFEST_NAME: writer.add_bytes(MANIFEST_NAME, manifest_bytes, True)}
            total = len(members)
            for done, member in enumerate(members, 1):
                checksums[member.path] = writer.add_member(member)
                if progress:
                    progress(done, total)
            sums = "".join(f"{checksums[p]}  {p}\n" for p in summed).encode("utf-8")
            writer.add_bytes(CHECKSUMS_NAME, sums, True)
            writer.finish()
            gz.close()
            os.fsync(raw.fileno())
        os.replace(tmp, final_path)
        _fsync_dir(final_path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NotEnoughSpace(
                f"disk full while writing {final_path.name} in {final_path.parent}; "
                "nothing was kept, free some space and try again"
            ) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ArchiveResult(
        path=final_path,
        size=archive_hash.size,
        sha256=archive_hash.hash.hexdigest(),
        checksums=checksums,
    )


def remove_temporaries(folder):
    """Delete temporaries left in ``folder`` by an interrupted write; return their names."""
    removed = []
    for path in Path(folder).glob(".*.tmp-*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _HashingRaw:
    """A write-only raw file that hashes and counts what passes through."""

    def __init__(self, raw):
        self._raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data):
        n = self._raw.write(data)
        self.hash.update(data[:n])
        self.size += n
        return n


def guess_compressible(path, sample):
    """Return True when a member is worth deflating, by its name, else by a quick trial."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in INCOMPRESSIBLE_SUFFIXES:
        return False
    mime = mimetypes.guess_type(path)[0] or ""
    if mime.startswith(("image/", "video/", "audio/")) and not mime.endswith(("svg+xml", "bmp")):
        return False
    if not sample:
        return True
    trial = isal_zlib.compress(sample[:PROBE], 1)
    return len(trial) < 0.9 * min(len(sample), PROBE)


class _TarWriter:
    """Write POSIX (pax) tar headers and data through a ``GzipStreamWriter``."""

    def __init__(self, gz, mtime):
        self._gz = gz
        self._mtime = mtime if mtime is not None else int(time.time())
        self._offset = 0

    def _header(self, path, size):
        info = tarfile.TarInfo(path)
        info.size = size
        info.mode = 0o644
        info.mtime = self._mtime
        info.uname = info.gname = ""
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        self._gz.compress(header)
        self._offset += len(header)

    def _pad(self, size, compressible):
        remainder = size % BLOCK
        if remainder:
            padding = bytes(BLOCK - remainder)
            (self._gz.compress if compressible else self._gz.store)(padding)
            self._offset += len(padding)

    def add_bytes(self, path, data, compressible):
        """Add a member from memory; return its SHA-256."""
        self._header(path, len(data))
        (self._gz.compress if compressible else self._gz.store)(data)
        self._offset += len(data)
        self._pad(len(data), compressible)
        return hashlib.sha256(data).hexdigest()

    def add_member(self, member):
        """Add ``member``, reading its source once; return its SHA-256."""
        if isinstance(member.source, bytes | bytearray | memoryview):
            if len(member.source) != member.size:
                raise BackupError(
                    f"{member.path}: size {len(member.source)}, expected {member.size}"
                )
            compressible = member.compressible
            if compressible is None:
                compressible = guess_compressible(member.path, member.source)
            return self.add_bytes(member.path, bytes(member.source), compressible)
        return self._add_file(member)

    def _add_file(self, member):
        self._header(member.path, member.size)
        digest = hashlib.sha256()
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        remaining = member.size
        compressible = member.compressible
        with open(member.source, "rb", buffering=0) as source:
            while remaining:
                n = source.readinto(view[: min(CHUNK, remaining)])
                if not n:
                    raise BackupError(
                        f"{member.source} shrank while being archived "
                        f"({member.size - remaining} of {member.size} bytes read)"
                    )
                chunk = view[:n]
                if compressible is None:
                    compressible = guess_compressible(member.path, chunk)
                digest.update(chunk)
                (self._gz.compress if compressible else self._gz.store)(chunk)
                remaining -= n
        self._offset += member.size
        self._pad(member.size, bool(compressible))
        return digest.hexdigest()

    def finish(self):
        """Write the end-of-archive marker and pad to a whole tar record."""
        end = bytes(2 * BLOCK)
        self._offset += len(end)
        tail = (-self._offset) % RECORD
        self._gz.compress(end + bytes(tail))
