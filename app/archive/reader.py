"""Reading archives without trusting them: one pass that checks, hashes and extracts.

``tarfile`` is not used: ``app.archive.tarstream`` parses the stream itself,
strictly and in time linear in its size (``tarfile`` accepts what GNU tar
reads differently, and its extraction filters may predate fixes). Every
member is checked against the manifest before a byte of it is written:
regular files listed in the manifest with the listed size, at a safe relative
name, inside the target folder. Links, devices, FIFOs, sparse files, absolute
names and ``..`` are refused, and so is anything unlisted. The total is
bounded by the manifest (checked against ``max_bytes`` before extracting)
because every member must be exactly as large as listed. Given a key, the
authentication tag over manifest and checksums (``app.archive.auth``) must match.
"""

import contextlib
import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from os import PathLike
from pathlib import Path
from typing import cast

from app.archive.auth import TAG_NAME, TAG_SIZE, tag_problem
from app.archive.errors import CorruptArchive, NotEnoughSpace, Unauthenticated, UnsafeArchive
from app.archive.filelist import FileList, FileTable, Members
from app.archive.members import Manifest, Progress
from app.archive.names import CHECKSUMS_NAME, MANIFEST_NAME, check_member_path
from app.archive.sink import EXTRACT_DISK_FULL, Sink
from app.archive.space import disk_full_as
from app.archive.spool import Blob
from app.archive.streamed import stream_checksums, stream_manifest
from app.archive.sums import parse_checksums
from app.archive.tarstream import Entry, Inflater, TarReader
from app.archive.trees import FileMaker

FORMAT_VERSION = 2  # 1: no authentication tag; 2: HMAC-SHA256 tag, GNU-escaped SHA256SUMS
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_SUMS_BYTES = 512 * 1024 * 1024
STREAM_MANIFEST_BYTES = 256 * 1024  # a larger manifest is streamed to disk, not parsed whole
STREAM_SUMS_BYTES = 256 * 1024  # a larger SHA256SUMS is spooled to disk


def parse_manifest(data: bytes, source: str) -> tuple[Manifest, dict[str, int]]:
    """Parse manifest bytes; return (manifest, {listed path: size}) or raise CorruptArchive."""
    try:
        manifest = json.loads(data)
    except (UnicodeError, ValueError) as exc:
        raise CorruptArchive(f"{source}: manifest.json is not valid JSON ({exc})") from None
    problem = _head_problem(manifest, source)
    if problem is not None:
        raise CorruptArchive(problem)
    files = manifest.get("files")
    if not isinstance(files, list):
        raise CorruptArchive(f"{source}: manifest.json has no file list")
    sizes: dict[str, int] = {}
    for entry in files:
        if not isinstance(entry, dict):
            raise CorruptArchive(f"{source}: manifest.json has a malformed file entry")
        path = check_member_path(entry.get("path"))
        size = entry.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise CorruptArchive(f"{source}: manifest.json gives {path!r} a bad size {size!r}")
        if path in sizes or path == MANIFEST_NAME:
            raise CorruptArchive(f"{source}: manifest.json lists {path!r} twice")
        sizes[path] = size
    if CHECKSUMS_NAME not in sizes:
        raise CorruptArchive(f"{source}: manifest.json does not list {CHECKSUMS_NAME}")
    authentication = manifest.get("authentication")
    if authentication is not None:
        if not isinstance(authentication, dict) or authentication.get("member") != TAG_NAME:
            raise CorruptArchive(f"{source}: manifest.json has a malformed authentication field")
        if TAG_NAME in sizes:
            raise CorruptArchive(f"{source}: manifest.json lists {TAG_NAME} as a file")
        sizes[TAG_NAME] = TAG_SIZE  # declared by the authentication field, not in "files"
    return manifest, sizes


def _head_problem(manifest: object, source: str) -> str | None:
    """Return why the parsed ``manifest`` is not one of a format this app reads, if it is not."""
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith(
        "stinkykitty-"
    ):
        return f"{source}: not a StinkyKitty archive (manifest has no known format)"
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        return (
            f"{source}: archive format version {version!r} is newer than this app reads "
            f"({FORMAT_VERSION}); upgrade StinkyKitty to read it"
        )
    return None


class _Reader:
    """An archive file opened for one forward pass: the gzip stream and the tar entries in it."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._file = open(self.path, "rb")  # noqa: SIM115  (closed by close())
        head = self._file.read(2)
        self._file.seek(0)
        if head != b"\x1f\x8b":
            self.close()
            raise CorruptArchive(f"{self.name}: not a readable .tar.gz (no gzip header)")
        self.tar = TarReader(Inflater(self._file, self.name), self.name)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "_Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _manifest_entry(tar: TarReader, source: str) -> Entry:
    entry = tar.next_entry()
    if entry is None or entry.name != MANIFEST_NAME or entry.is_dir:
        raise CorruptArchive(f"{source}: manifest.json is missing (it must come first)")
    if entry.size > MAX_MANIFEST_BYTES:
        raise UnsafeArchive(f"{source}: manifest.json is implausibly large ({entry.size} bytes)")
    return entry


def _load_manifest(tar: TarReader, source: str) -> tuple[Manifest, Blob, FileTable]:
    """Read and check the manifest member; return (manifest, its bytes, its files as a table).

    A manifest over ``STREAM_MANIFEST_BYTES`` is spooled to disk and streamed
    into the table; its ``files`` is then a FileList over the table, which
    lives as long as the manifest does. Anything the stream does not take is
    parsed whole, with the whole parse's refusals.
    """
    entry = _manifest_entry(tar, source)
    blob = Blob(tar.data(entry), in_memory=entry.size <= STREAM_MANIFEST_BYTES)
    try:
        manifest, table = _parse_manifest_blob(blob, source)
    except BaseException:
        blob.close()
        raise
    return manifest, blob, table


def _parse_manifest_blob(blob: Blob, source: str) -> tuple[Manifest, FileTable]:
    """Parse the manifest held in ``blob``; return it and its files as a table.

    Streamed when ``blob`` is spooled, with ``parse_manifest`` judging whatever
    the stream does not take.
    """
    table = FileTable()
    try:
        manifest = None
        if blob.spooled:
            manifest = stream_manifest(blob.file(), table)
            if manifest is not None and _head_problem(manifest, source) is not None:
                manifest = None
            if manifest is None:
                table.close()
                table = FileTable()
        if manifest is None:
            manifest, sizes = parse_manifest(blob.data(), source)
            table.add_many(sizes.items())
            table.listed_count = len(manifest["files"])
    except BaseException:
        table.close()
        raise
    return manifest, table


def read_manifest(path: str | PathLike[str]) -> Manifest:
    """Read only the first member (``manifest.json``) of an archive and return it."""
    with _Reader(path) as reader:
        manifest, blob, table = _load_manifest(reader.tar, reader.name)
    blob.close()
    _release(manifest, table)
    return manifest


def _release(manifest: Manifest, table: FileTable) -> None:
    """Close ``table`` unless the manifest's file list reads from it."""
    if not isinstance(manifest["files"], FileList):
        table.close()


def verify_archive(
    path: str | PathLike[str],
    *,
    key: bytes | None = None,
    progress: Progress | None = None,
    max_members: int | None = None,
) -> Manifest:
    """Check a whole archive (structure, sizes, SHA-256s, gzip trailer); return the manifest.

    With ``key`` (bytes), its authentication tag must match too (else Unauthenticated).
    ``max_members`` bounds the entries it may hold, folders included.
    """
    return _walk(path, None, None, progress, key, max_members=max_members)


def extract_archive(
    path: str | PathLike[str],
    dest: str | PathLike[str],
    *,
    max_bytes: int | None = None,
    progress: Progress | None = None,
    key: bytes | None = None,
    keep: Callable[[str], bool] | None = None,
    max_members: int | None = None,
) -> Manifest:
    """Extract and verify an archive in one pass into the new folder ``dest``; return its manifest.

    With ``key`` (bytes), its authentication tag must match too (else Unauthenticated).
    ``keep(member name)`` returning False verifies a member without writing it
    (``max_bytes`` then bounds only what is written). ``max_members`` bounds the
    entries it may hold, folders included. On error ``dest`` may hold partial
    files: callers extract into a staging folder and remove it.
    """
    folder = Path(dest)
    folder.mkdir(mode=0o750)
    return _walk(path, folder, max_bytes, progress, key, keep, max_members)


def _walk(
    path: str | PathLike[str],
    dest: Path | None,
    max_bytes: int | None,
    progress: Progress | None,
    key: bytes | None,
    keep: Callable[[str], bool] | None = None,
    max_members: int | None = None,
) -> Manifest:
    name = Path(path).name
    with _Reader(path) as reader:
        manifest, head, table = _load_manifest(reader.tar, name)
        try:
            sums, tag = _read_members(
                reader.tar, name, table, dest, max_bytes, progress, keep, max_members
            )
            try:
                _check_sums(name, manifest, head, table, sums, tag, key)
            finally:
                sums.close()
        finally:
            head.close()
            _release(manifest, table)
    return manifest


def _read_members(
    tar: TarReader,
    name: str,
    table: FileTable,
    dest: Path | None,
    max_bytes: int | None,
    progress: Progress | None,
    keep: Callable[[str], bool] | None,
    max_members: int | None,
) -> tuple[Blob, bytes | None]:
    """Check, hash (and write) every member after the manifest; return SHA256SUMS and the tag."""
    with Sink() as sink, _maker(dest) as maker:
        total = table.total_kept(keep)
        if max_bytes is not None and total > max_bytes:
            raise NotEnoughSpace(
                f"{name}: unpacks to {total:,} bytes, "
                f"more than the {max_bytes:,} bytes allowed here"
            )
        members = Members(name, table, max_members)
        sums: Blob | None = None  # read whole (spooled when large), not written as files
        tag: bytes | None = None
        count = table.count + 1  # and the manifest: every member, as tar lists them
        seq = 0
        done: list[tuple[str, str]] = []  # digests made, recorded in the table in batches
        try:
            while (entry := tar.next_entry()) is not None:
                members.check(entry)
                if entry.is_dir:
                    continue
                if sums is not None:
                    raise CorruptArchive(f"{name}: member {entry.name!r} after {CHECKSUMS_NAME}")
                if tag is not None and entry.name != CHECKSUMS_NAME:
                    raise CorruptArchive(f"{name}: member {entry.name!r} after {TAG_NAME}")
                if entry.name in (CHECKSUMS_NAME, TAG_NAME) and entry.size > MAX_SUMS_BYTES:
                    raise UnsafeArchive(f"{name}: {entry.name} is implausibly large")
                if entry.name == CHECKSUMS_NAME:
                    sums = Blob(tar.data(entry), in_memory=entry.size <= STREAM_SUMS_BYTES)
                    if maker is not None:
                        _write_blob(maker, entry.name, sums)
                elif entry.name == TAG_NAME:
                    tag = b"".join(tar.data(entry))
                    if maker is not None:
                        maker.write_bytes(entry.name, tag)
                else:
                    out = None
                    if maker is not None and (keep is None or keep(entry.name)):
                        out = maker.open_new(entry.name)
                    sink.begin(entry.name, out)
                    for chunk in tar.data(entry):
                        sink.put(chunk)
                    sink.end()
                    done += sink.take()
                    if len(done) >= 1024:
                        seq = table.record(done, seq)
                        done.clear()
                if progress:
                    progress(members.done, count)
            missing, first = table.first_missing()
            if missing:
                raise CorruptArchive(
                    f"{name}: {missing} member(s) listed in manifest are missing, "
                    f"e.g. {first!r} (truncated archive?)"
                )
            seq = table.record(done + sink.finish(), seq)
        except BaseException:
            if sums is not None:
                sums.close()
            raise
    if tag is not None:
        table.record([(TAG_NAME, hashlib.sha256(tag).hexdigest())], seq)
    return cast(Blob, sums), tag  # listed in every manifest, so present once none is missing


def _write_blob(maker: FileMaker, member: str, blob: Blob) -> None:
    with disk_full_as(EXTRACT_DISK_FULL), maker.open_new(member) as out:
        for chunk in blob.chunks():
            out.write(chunk)


def _check_sums(
    name: str,
    manifest: Manifest,
    head: Blob,
    table: FileTable,
    sums: Blob,
    tag: bytes | None,
    key: bytes | None,
) -> None:
    """Raise unless SHA256SUMS matches every member (and, with ``key``, the tag matches)."""
    damage = _table_checksum_problem(name, head, table, sums)
    if key is not None:
        why = tag_problem(key, manifest, head, sums, tag)
        if why is not None:
            state = "otherwise intact" if damage is None else f"not intact either ({damage})"
            raise Unauthenticated(
                f"{name}: not authenticated: {why}; its checksums are {state}", damage is None
            )
    if damage is not None:
        raise CorruptArchive(f"{name}: {damage}")


def _table_checksum_problem(name: str, head: Blob, table: FileTable, sums: Blob) -> str | None:
    """Return what ``checksum_problem`` would of SHA256SUMS and the digests made in ``table``."""
    if not stream_checksums(sums.lines(), table):
        try:
            listed = parse_checksums(sums.data(), name, CHECKSUMS_NAME)
        except CorruptArchive as exc:
            return str(exc).removeprefix(f"{name}: ")
        table.clear_listed()
        table.add_listed_many(listed.items())
    if not table.listed_match([MANIFEST_NAME]):
        return f"{CHECKSUMS_NAME} does not cover exactly the archive's members"
    bad = table.first_mismatch()  # in the order hashed: the members, then the tag
    if bad in (None, TAG_NAME) and table.listed_digest(MANIFEST_NAME) != head.sha256:
        bad = MANIFEST_NAME  # hashed after the members, before the tag
    if bad is not None:
        return f"checksum mismatch for {bad!r} (the archive is damaged)"
    return None


def _maker(dest: Path | None) -> AbstractContextManager[FileMaker | None]:
    """Return a FileMaker under ``dest``, or a context that gives None when only verifying."""
    if dest is None:
        return contextlib.nullcontext()
    return FileMaker(dest, EXTRACT_DISK_FULL)


def checksum_problem(name: str, sums_bytes: bytes | None, digests: dict[str, str]) -> str | None:
    """Return what is wrong between SHA256SUMS and the members' ``digests`` (None if nothing)."""
    try:
        # None only when SHA256SUMS was never read, which the callers rule out first.
        listed = parse_checksums(cast(bytes, sums_bytes), name, CHECKSUMS_NAME)
    except CorruptArchive as exc:
        return str(exc).removeprefix(f"{name}: ")
    if set(listed) != set(digests):
        return f"{CHECKSUMS_NAME} does not cover exactly the archive's members"
    for path, digest in digests.items():
        if listed[path] != digest:
            return f"checksum mismatch for {path!r} (the archive is damaged)"
    return None
