"""Self-describing, checksummed ``.tar.gz`` archives, written atomically in one pass.

Layout, in this order:

- ``manifest.json``: the caller's metadata plus ``files``, the path and size of
  every other member, known before a byte is written, so a reader can refuse
  unlisted or oversized members before extracting anything;
- every member, each read exactly once and hashed while it is written;
- ``HMAC-SHA256``: given a key, the authentication tag over the manifest and
  the checksum lines of every other member (see ``app.archive.auth``);
- ``SHA256SUMS``: the SHA-256 of every member, manifest and tag included, in
  the format ``sha256sum -c`` reads (GNU-escaped names, see ``app.archive.sums``).

Before the rename the writer reads its own manifest and last members back from
the file with the reader's parsers: an archive its reader would refuse is never
put in place.

Both system backups and site exports are written with ``write_archive`` and read
with the functions of ``app.archive.reader``.
"""

import hashlib
import mimetypes
import os
import secrets
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from isal import isal_zlib

from app.archive.auth import TAG_NAME, authentication_field, make_tag, tag_problem
from app.archive.errors import ArchiveError, NotEnoughSpace
from app.archive.gzipstream import GzipStreamWriter
from app.archive.reader import (
    CHECKSUMS_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    RESERVED_NAMES,
    check_member_path,
    checksum_problem,
    parse_manifest,
    read_back,
)
from app.archive.space import fsync_dir, is_disk_full
from app.archive.sums import checksum_line, checksums_size, checksums_text, manifest_bytes

CHUNK = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
PROBE = 64 * 1024
# Text (JSON lines) is deflated by zlib in its own thread while this one stores the
# media. Measured on a 332 MB backup (31 MB of text): level 3 took 0.22 s and left
# the archive 1.25% larger than `tar czf`'s; level 7 takes 0.62 s, still hidden
# behind the media, and the archive is 0.99% larger (level 6: 1.004%; 8 and 9 cost
# more time for under 0.01%). The rest of the gap is the media, which gzip -6
# shrinks by about 1% and which we store: deflating them would cost more CPU
# than everything else the writer does.
TEXT_LEVEL = 7
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
    sha256: str | None
    checksums: dict[str, str]


def write_archive(
    final_path,
    meta: dict,
    members: Iterable[Member],
    *,
    progress: Callable[[int, int], None] | None = None,
    digest: bool = True,
    key: bytes | None = None,
) -> ArchiveResult:
    """Write ``members`` under ``meta`` as one ``.tar.gz`` at ``final_path``, atomically.

    Incompressible members (media) are stored by this thread at the speed of a
    copy while a second thread deflates the compressible ones (database dumps,
    JSON) into a spool file next to the archive; that spool is appended last.
    So the manifest lists stored members first, then deflated ones.
    ``digest=False`` skips the SHA-256 of the whole archive file (``sha256`` is
    then None), for callers that do not use it; members are always hashed.
    With ``key`` (bytes), the archive carries an authentication tag made with it.
    """
    final_path = Path(final_path)
    members = list(members)
    _check_members(members)
    stored, deflated = _split_by_compressibility(members)
    summed, manifest = _manifest(meta, stored + deflated, key)
    head = manifest_bytes(manifest)
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or int(time.time())

    tmp = final_path.with_name(f".{final_path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with (
            _DeflateAhead(deflated, tmp.with_name(tmp.name + "-text"), mtime) as ahead,
            open(tmp, "xb", buffering=0) as raw,
        ):
            os.fchmod(raw.fileno(), 0o640)
            out = _HashingRaw(raw, digest)
            gz = GzipStreamWriter(out, mtime=mtime)
            checksums = {MANIFEST_NAME: _add_bytes(gz, MANIFEST_NAME, head, mtime)}
            checksums.update(_add_members(gz, stored, ahead, mtime, progress))
            tail_offset = gz.end_run()  # the tail starts a fresh deflate run, read back below
            sums = checksums_text(checksums, summed)
            if key is not None:
                tag = make_tag(key, head, sums)
                checksums[TAG_NAME] = _add_bytes(gz, TAG_NAME, tag, mtime)
                sums += checksum_line(TAG_NAME, checksums[TAG_NAME])
            _add_bytes(gz, CHECKSUMS_NAME, sums, mtime)
            gz.compress(bytes(2 * BLOCK + (-(gz.uncompressed_size + 2 * BLOCK)) % RECORD))
            trailer = gz.close()
            os.fsync(raw.fileno())
            if os.fstat(raw.fileno()).st_size != out.size:
                raise ArchiveError(f"{tmp.name}: the file on disk is not the size written")
        _check_read_back(tmp, final_path.name, (tail_offset, trailer), manifest, checksums, key)
        os.replace(tmp, final_path)
        fsync_dir(final_path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
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
        size=out.size,
        sha256=out.hash.hexdigest() if out.hash else None,
        checksums=checksums,
    )


def _check_members(members):
    """Raise ArchiveError unless every member has a safe, distinct, unreserved name and its size."""
    names = [m.path for m in members]
    for name in names:
        check_member_path(name)
    if len(set(names)) != len(names) or set(RESERVED_NAMES) & set(names):
        raise ArchiveError("archive members must have distinct names, none reserved")
    for member in members:
        if isinstance(member.source, bytes | bytearray) and len(member.source) != member.size:
            raise ArchiveError(f"{member.path}: {len(member.source)} bytes, expected {member.size}")


def _manifest(meta, ordered, key):
    """Return (the member names SHA256SUMS lists before the tag, the manifest) of ``ordered``."""
    summed = [MANIFEST_NAME, *(m.path for m in ordered)]
    files = [{"path": m.path, "size": m.size} for m in ordered]
    manifest = {**meta, "format_version": FORMAT_VERSION}
    if key is not None:  # the tag member is declared here, not in "files"
        manifest["authentication"] = authentication_field(key)
    tagged = [TAG_NAME] if key is not None else []
    files.append({"path": CHECKSUMS_NAME, "size": checksums_size([*summed, *tagged])})
    manifest["files"] = files
    return summed, manifest


def _add_members(gz, stored, ahead, mtime, progress):
    """Store ``stored``, then splice in what ``ahead`` deflated; return every member's SHA-256."""
    total = len(stored) + len(ahead.members)  # progress counts the caller's members
    checksums = {}
    for done, member in enumerate(stored, 1):
        checksums[member.path] = _add_stored(gz, member, mtime)
        if progress:
            progress(done, total)
    segment = ahead.result()
    gz.append_deflate(segment.spool, segment.crc, segment.length)
    checksums.update(segment.checksums)
    if progress:
        for done in range(len(stored) + 1, total + 1):
            progress(done, total)
    return checksums


def _check_read_back(tmp, name, tail, manifest, checksums, key):
    """Parse what was written with the reader's code; raise ArchiveError if it would refuse it."""
    try:
        read, head, last = read_back(tmp, *tail)
        parse_manifest(head, name)
        problem = None if read == manifest else "the manifest reads back differently"
        digests = {**checksums, MANIFEST_NAME: hashlib.sha256(head).hexdigest()}
        problem = problem or checksum_problem(name, last.get(CHECKSUMS_NAME), digests)
        if problem is None and key is not None:
            sums, tag = last.get(CHECKSUMS_NAME), last.get(TAG_NAME)
            problem = tag_problem(key, read, head, sums, tag)
    except ArchiveError as exc:
        problem = str(exc)
    if problem is not None:
        raise ArchiveError(
            f"{name} was not kept: reading it back, its own reader refuses it ({problem})"
        )


def remove_temporaries(folder):
    """Delete temporaries left in ``folder`` by an interrupted write; return their names."""
    removed = []
    for path in Path(folder).glob(".*.tmp-*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


class _HashingRaw:
    """A write-only raw file that hashes and counts what passes through."""

    def __init__(self, raw, digest=True):
        self._raw = raw
        self.hash = hashlib.sha256() if digest else None
        self.size = 0

    def write(self, data):
        n = self._raw.write(data)
        if self.hash is not None:
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
    if len(sample) < 4096:
        return True  # too small to judge, and too small to matter
    trial = isal_zlib.compress(sample[:PROBE], 1)
    return len(trial) < 0.9 * min(len(sample), PROBE)


def _split_by_compressibility(members):
    """Return (stored, deflated) members, each in the given order."""
    stored, deflated = [], []
    for member in members:
        compressible = member.compressible
        if compressible is None:
            compressible = guess_compressible(member.path, _sample(member))
        (deflated if compressible else stored).append(member)
    return stored, deflated


def _sample(member):
    """Return the first bytes of ``member``, unless its name already tells it is media."""
    if isinstance(member.source, bytes | bytearray):
        return bytes(member.source[:PROBE])
    if PurePosixPath(member.path).suffix.lower() in INCOMPRESSIBLE_SUFFIXES:
        return b""
    with open(member.source, "rb") as f:
        return f.read(PROBE)


def tar_header(path, size, mtime):
    """Return the POSIX (pax) tar header of a regular file."""
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = 0o644
    info.mtime = mtime
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size):
    return bytes(-size % BLOCK)


def _add_bytes(gz, path, data, mtime):
    """Deflate a small member held in memory; return its SHA-256."""
    gz.compress(tar_header(path, len(data), mtime) + data + _padding(len(data)))
    return hashlib.sha256(data).hexdigest()


def _read_source(member):
    """Yield the bytes of ``member`` in chunks, exactly ``member.size`` of them."""
    if isinstance(member.source, bytes | bytearray):
        yield member.source
        return
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    remaining = member.size
    with open(member.source, "rb", buffering=0) as source:
        while remaining:
            n = source.readinto(view[: min(CHUNK, remaining)])
            if not n:
                raise ArchiveError(
                    f"{member.source} shrank while being archived "
                    f"({member.size - remaining} of {member.size} bytes read)"
                )
            remaining -= n
            yield view[:n]


def _add_stored(gz, member, mtime):
    """Store a member without compression, reading its source once; return its SHA-256."""
    gz.compress(tar_header(member.path, member.size, mtime))
    digest = hashlib.sha256()
    for chunk in _read_source(member):
        digest.update(chunk)
        gz.store(chunk)
    gz.store(_padding(member.size))
    return digest.hexdigest()


@dataclass
class _Segment:
    spool: object
    crc: int
    length: int
    checksums: dict


class _DeflateAhead:
    """Deflate members (headers, data, padding) in a thread into a spool file.

    The spool holds raw deflate blocks ending on a byte boundary with a sync
    flush, so they can be spliced into the archive's deflate stream as they are.
    """

    def __init__(self, members, spool_path, mtime):
        self.members = members
        self._spool_path = spool_path
        self._mtime = mtime
        self._stop = threading.Event()
        self._error = None
        self._segment = None
        self._thread = threading.Thread(target=self._run, name="deflate-ahead", daemon=True)

    def __enter__(self):
        self._spool = open(self._spool_path, "w+b")
        self._spool_path.unlink()  # anonymous from now on: a crash leaves nothing behind
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._spool.close()
        return False

    def _run(self):
        try:
            deflater = zlib.compressobj(TEXT_LEVEL, zlib.DEFLATED, -15)
            crc, length, checksums = 0, 0, {}

            def put(data):
                nonlocal crc, length
                crc = isal_zlib.crc32(data, crc)
                length += len(data)
                self._spool.write(deflater.compress(data))

            for member in self.members:
                put(tar_header(member.path, member.size, self._mtime))
                digest = hashlib.sha256()
                for chunk in _read_source(member):
                    if self._stop.is_set():
                        return
                    digest.update(chunk)
                    put(chunk)
                put(_padding(member.size))
                checksums[member.path] = digest.hexdigest()
            self._spool.write(deflater.flush(zlib.Z_SYNC_FLUSH))
            self._spool.flush()
            self._segment = _Segment(self._spool, crc, length, checksums)
        except BaseException as exc:  # handed to the writing thread by result()
            self._error = exc

    def result(self):
        """Wait for the thread; return its segment or raise its error."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._segment.spool.seek(0)
        return self._segment
