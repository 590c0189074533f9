"""Reading archives without trusting them: one pass that checks, hashes and extracts.

Nothing here relies on ``tarfile``'s extraction filters (the Python this runs
on may predate fixes to them). ``tarfile`` only parses headers; every member is
checked against the manifest before a byte of it is written: regular files
listed in the manifest with the listed size, at a safe relative name, inside
the target folder. Links, devices, FIFOs, sparse files, absolute names and
``..`` are refused, and so is anything unlisted. The total is bounded by the
manifest (checked against ``max_bytes`` before extracting) because every member
must be exactly as large as listed.
"""

import contextlib
import hashlib
import json
import os
import queue
import tarfile
import threading
import zlib
from pathlib import Path, PurePosixPath

from isal import igzip, isal_zlib

from app.archive.errors import CorruptArchive, NotEnoughSpace, UnsafeArchive
from app.archive.space import disk_full_as

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CHECKSUMS_NAME = "SHA256SUMS"
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_NAME_BYTES = 1024
CHUNK = 1024 * 1024
READ_BUFFER = 1024 * 1024
_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)
_EXTRACT_DISK_FULL = "disk full while extracting; nothing was changed"
# isal's own error (bad deflate data) is not a zlib.error.
_DECODE_ERRORS = (
    EOFError,
    zlib.error,
    isal_zlib.error,
    tarfile.TarError,
    OSError,
    ValueError,
    UnicodeError,
)


def check_member_path(name):
    """Return ``name`` if it is a safe relative POSIX path, else raise UnsafeArchive."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise UnsafeArchive(f"refused member name {name!r}")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise UnsafeArchive(f"refused member name longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise UnsafeArchive(f"refused absolute member name {name!r}")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeArchive(f"refused member name {name!r} (empty, '.' or '..' part)")
    return name


def _parse_manifest(data, source):
    try:
        manifest = json.loads(data)
    except (UnicodeError, ValueError) as exc:
        raise CorruptArchive(f"{source}: manifest.json is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith(
        "stinkykitty-"
    ):
        raise CorruptArchive(f"{source}: not a StinkyKitty archive (manifest has no known format)")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CorruptArchive(
            f"{source}: archive format version {version!r} is newer than this app reads "
            f"({FORMAT_VERSION}); upgrade StinkyKitty to read it"
        )
    files = manifest.get("files")
    if not isinstance(files, list):
        raise CorruptArchive(f"{source}: manifest.json has no file list")
    sizes = {}
    for entry in files:
        if not isinstance(entry, dict):
            raise CorruptArchive(f"{source}: manifest.json has a malformed file entry")
        path, size = entry.get("path"), entry.get("size")
        check_member_path(path)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise CorruptArchive(f"{source}: manifest.json gives {path!r} a bad size {size!r}")
        if path in sizes or path == MANIFEST_NAME:
            raise CorruptArchive(f"{source}: manifest.json lists {path!r} twice")
        sizes[path] = size
    if CHECKSUMS_NAME not in sizes:
        raise CorruptArchive(f"{source}: manifest.json does not list {CHECKSUMS_NAME}")
    return manifest, sizes


class _Reader:
    """Iterate an archive's members in one forward pass, checking each."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.name
        try:
            self._gz = igzip.open(self.path, "rb")
            self._tar = tarfile.open(  # noqa: SIM115  (closed by close())
                fileobj=self._gz, mode="r:", bufsize=READ_BUFFER
            )
        except FileNotFoundError:
            raise
        except _DECODE_ERRORS as exc:
            self.close()
            raise CorruptArchive(f"{self.name}: not a readable .tar.gz ({exc})") from None

    def close(self):
        for attr in ("_tar", "_gz"):
            obj = getattr(self, attr, None)
            if obj is not None:
                with contextlib.suppress(*_DECODE_ERRORS):
                    obj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next_member(self):
        """Return the next TarInfo (None at the end), refusing anything but regular files."""
        try:
            info = self._tar.next()
        except _DECODE_ERRORS as exc:
            raise CorruptArchive(f"{self.name}: damaged archive ({_describe(exc)})") from None
        self._tar.members = []  # keep memory flat however many members there are
        if info is None:
            return None
        if info.type == tarfile.DIRTYPE:
            check_member_path(info.name.rstrip("/"))
            return info
        if info.type not in _REGULAR:
            kind = {
                tarfile.SYMTYPE: "symbolic link",
                tarfile.LNKTYPE: "hard link",
                tarfile.CHRTYPE: "character device",
                tarfile.BLKTYPE: "block device",
                tarfile.FIFOTYPE: "FIFO",
                tarfile.GNUTYPE_SPARSE: "sparse file",
            }.get(info.type, f"member of type {info.type!r}")
            raise UnsafeArchive(f"{self.name}: refused {kind} {info.name!r}")
        check_member_path(info.name)
        return info

    def read_chunks(self, info):
        """Yield the data of ``info`` in chunks."""
        try:
            stream = self._tar.extractfile(info)
            remaining = info.size
            while remaining:
                chunk = stream.read(min(CHUNK, remaining))
                if not chunk:
                    raise CorruptArchive(f"{self.name}: {info.name} is truncated")
                remaining -= len(chunk)
                yield chunk
        except _DECODE_ERRORS as exc:
            raise CorruptArchive(f"{self.name}: damaged archive ({_describe(exc)})") from None

    def drain(self):
        """Read to the end of the gzip stream so its CRC and length are checked."""
        try:
            while self._gz.read(CHUNK):
                pass
        except _DECODE_ERRORS as exc:
            raise CorruptArchive(f"{self.name}: damaged archive ({_describe(exc)})") from None


def _describe(exc):
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "end of data" in text or "end-of-stream" in text:
        return f"truncated: {text}"
    return text


def _read_manifest_member(reader):
    info = reader.next_member()
    if info is None or info.name != MANIFEST_NAME or info.type not in _REGULAR:
        raise CorruptArchive(f"{reader.name}: manifest.json is missing (it must come first)")
    if info.size > MAX_MANIFEST_BYTES:
        raise UnsafeArchive(
            f"{reader.name}: manifest.json is implausibly large ({info.size} bytes)"
        )
    data = b"".join(reader.read_chunks(info))
    return data


def read_manifest(path):
    """Read only the first member (``manifest.json``) of an archive and return it."""
    with _Reader(path) as reader:
        data = _read_manifest_member(reader)
    return _parse_manifest(data, Path(path).name)[0]


def verify_archive(path, *, progress=None):
    """Check a whole archive (structure, sizes, SHA-256s, gzip trailer); return the manifest."""
    return _walk(path, None, None, progress)


def extract_archive(path, dest, *, max_bytes=None, progress=None, keep=None):
    """Extract and verify an archive in one pass into the new folder ``dest``; return its manifest.

    ``keep(member name)`` returning False verifies a member without writing it
    (``max_bytes`` then bounds only what is written). On error ``dest`` may hold
    partial files: callers extract into a staging folder and remove it.
    """
    dest = Path(dest)
    dest.mkdir(mode=0o750)
    return _walk(path, dest, max_bytes, progress, keep)


def _walk(path, dest, max_bytes, progress, keep=None):
    name = Path(path).name
    with _Reader(path) as reader, _Sink() as sink:
        manifest_bytes = _read_manifest_member(reader)
        manifest, expected = _parse_manifest(manifest_bytes, name)
        total = sum(size for p, size in expected.items() if keep is None or keep(p))
        if max_bytes is not None and total > max_bytes:
            raise NotEnoughSpace(
                f"{name}: unpacks to {total:,} bytes, "
                f"more than the {max_bytes:,} bytes allowed here"
            )
        seen = {MANIFEST_NAME}
        sums_text = None
        count = len(expected)
        while True:
            info = reader.next_member()
            if info is None:
                break
            if info.isdir():
                prefix = info.name.rstrip("/") + "/"
                if not any(p.startswith(prefix) for p in expected):
                    raise UnsafeArchive(f"{name}: refused directory {info.name!r} not in manifest")
                continue
            if info.name not in expected:
                raise UnsafeArchive(f"{name}: refused member {info.name!r} not listed in manifest")
            if info.name in seen:
                raise UnsafeArchive(f"{name}: member {info.name!r} appears twice")
            if info.size != expected[info.name]:
                raise UnsafeArchive(
                    f"{name}: member {info.name!r} is {info.size} bytes, manifest says "
                    f"{expected[info.name]}"
                )
            if sums_text is not None:
                raise CorruptArchive(f"{name}: member {info.name!r} after {CHECKSUMS_NAME}")
            seen.add(info.name)
            if info.name == CHECKSUMS_NAME:
                sums_text = b"".join(reader.read_chunks(info))
                _write_bytes(dest, info.name, sums_text)
            else:
                out = None
                if dest is not None and (keep is None or keep(info.name)):
                    with disk_full_as(_EXTRACT_DISK_FULL):
                        out = _open_new(dest, info.name)
                sink.begin(info.name, out)
                for chunk in reader.read_chunks(info):
                    sink.put(chunk)
                sink.end()
            if progress:
                progress(len(seen) - 1, count)
        missing = [p for p in expected if p not in seen]
        if missing:
            raise CorruptArchive(
                f"{name}: {len(missing)} member(s) listed in manifest are missing, "
                f"e.g. {missing[0]!r} (truncated archive?)"
            )
        reader.drain()
        digests = sink.finish()
    digests[MANIFEST_NAME] = hashlib.sha256(manifest_bytes).hexdigest()
    digests[CHECKSUMS_NAME] = None
    _check_sums(name, sums_text, digests)
    return manifest


class _Sink:
    """Hash (and write) members' data in a second thread while the first one decompresses.

    The reading thread checks every member and opens its file (all safety checks
    stay there); this thread only hashes and writes what it is handed, through a
    short queue, so memory stays bounded. Its errors are raised in the reading
    thread at the next hand-over or at ``finish()``.
    """

    _DEPTH = 4  # chunks in flight (up to CHUNK bytes each)

    def __init__(self):
        self._queue = queue.Queue(self._DEPTH)
        self._digests = {}
        self._error = None
        self._thread = threading.Thread(target=self._run, name="archive-sink", daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stop()
        return False

    def _hand(self, item):
        if self._error is not None:
            self._raise()
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._error is not None:
                    self._raise()

    def _raise(self):
        error, self._error = self._error, None
        raise error

    def begin(self, member_name, out):
        """Start a member; ``out`` is its open file, or None to only hash it."""
        self._hand(("begin", member_name, out))

    def put(self, chunk):
        """Hand over the next chunk of the current member."""
        self._hand(("data", chunk, None))

    def end(self):
        """End the current member."""
        self._hand(("end", None, None))

    def finish(self):
        """Wait for every chunk handed over; return {member: SHA-256} or raise the error."""
        self._stop()
        if self._error is not None:
            self._raise()
        return self._digests

    def _stop(self):
        if self._thread.is_alive():
            self._queue.put(("stop", None, None))
            self._thread.join()

    def _run(self):
        name = out = digest = None
        try:
            while True:
                kind, value, file = self._queue.get()
                if kind == "stop":
                    if out is not None:  # stopped mid-member: the reader failed
                        out.close()
                    break
                if kind == "begin":
                    name, out, digest = value, file, hashlib.sha256()
                elif kind == "data":
                    digest.update(value)
                    if out is not None:
                        with disk_full_as(_EXTRACT_DISK_FULL):
                            out.write(value)
                else:
                    if out is not None:
                        with disk_full_as(_EXTRACT_DISK_FULL):
                            out.close()
                    self._digests[name] = digest.hexdigest()
                    name = out = digest = None
        except BaseException as exc:  # handed to the reading thread
            self._error = exc
            if out is not None:
                with contextlib.suppress(OSError):
                    out.close()
            self._drain_after_error()

    def _drain_after_error(self):
        while True:
            kind, _value, file = self._queue.get()
            if kind == "stop":
                return
            if kind == "begin" and file is not None:
                file.close()


def _check_sums(name, sums_text, digests):
    try:
        lines = sums_text.decode("utf-8").splitlines()
        listed = dict(reversed(line.split("  ", 1)) for line in lines)
    except (UnicodeError, ValueError):
        raise CorruptArchive(f"{name}: {CHECKSUMS_NAME} is malformed") from None
    actual = {p: d for p, d in digests.items() if p != CHECKSUMS_NAME}
    if set(listed) != set(actual):
        raise CorruptArchive(
            f"{name}: {CHECKSUMS_NAME} does not cover exactly the archive's members"
        )
    for path, digest in actual.items():
        if listed[path] != digest:
            raise CorruptArchive(f"{name}: checksum mismatch for {path!r} (the archive is damaged)")


def _open_new(dest, member_name):
    target = dest.joinpath(*member_name.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(dest.resolve()):
        raise UnsafeArchive(f"refused member {member_name!r}: it would land outside the target")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.fdopen(os.open(target, flags, 0o640), "wb")
    except FileExistsError:
        raise UnsafeArchive(f"refused member {member_name!r}: written twice") from None


def _write_bytes(dest, member_name, data):
    if dest is None:
        return
    with disk_full_as(_EXTRACT_DISK_FULL), _open_new(dest, member_name) as out:
        out.write(data)
