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
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from os import PathLike
from pathlib import Path
from typing import cast

from app.archive.auth import TAG_NAME, TAG_SIZE, tag_problem
from app.archive.errors import CorruptArchive, NotEnoughSpace, Unauthenticated, UnsafeArchive
from app.archive.members import Manifest, Progress
from app.archive.sink import EXTRACT_DISK_FULL, Sink
from app.archive.sums import name_bytes, parse_checksums
from app.archive.tarstream import Entry, Inflater, TarReader
from app.archive.trees import FileMaker

FORMAT_VERSION = 2  # 1: no authentication tag; 2: HMAC-SHA256 tag, GNU-escaped SHA256SUMS
MANIFEST_NAME = "manifest.json"
CHECKSUMS_NAME = "SHA256SUMS"
RESERVED_NAMES = (MANIFEST_NAME, CHECKSUMS_NAME, TAG_NAME)
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_NAME_BYTES = 4096  # PATH_MAX on Linux
MAX_PART_BYTES = 255  # NAME_MAX on Linux
MAX_SUMS_BYTES = 512 * 1024 * 1024


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


def parse_manifest(data: bytes, source: str) -> tuple[Manifest, dict[str, int]]:
    """Parse manifest bytes; return (manifest, {listed path: size}) or raise CorruptArchive."""
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


def _read_manifest_member(tar: TarReader, source: str) -> bytes:
    entry = tar.next_entry()
    if entry is None or entry.name != MANIFEST_NAME or entry.is_dir:
        raise CorruptArchive(f"{source}: manifest.json is missing (it must come first)")
    if entry.size > MAX_MANIFEST_BYTES:
        raise UnsafeArchive(f"{source}: manifest.json is implausibly large ({entry.size} bytes)")
    return b"".join(tar.data(entry))


def read_manifest(path: str | PathLike[str]) -> Manifest:
    """Read only the first member (``manifest.json``) of an archive and return it."""
    with _Reader(path) as reader:
        data = _read_manifest_member(reader.tar, reader.name)
    return parse_manifest(data, Path(path).name)[0]


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


def _directories(paths: Iterable[str]) -> set[str]:
    """Return every folder that holds a listed path (linear in the total length of the paths)."""
    folders: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for end in range(1, len(parts)):
            folder = "/".join(parts[:end])
            if folder in folders:
                continue
            folders.add(folder)
    return folders


class Members:
    """Check each entry against the manifest as it comes, before any of its data is read.

    A file must be listed, come once and have its listed size; a folder must
    hold a listed file and come once. Every entry but the manifest and the tag
    counts against ``max_members``, folders included. So what a reader inflates
    is bounded by what the manifest declares.
    """

    def __init__(
        self, source: str, expected: dict[str, int], max_members: int | None = None
    ) -> None:
        self.source = source
        self.expected = expected
        self.folders = _directories(expected)
        self.seen = {MANIFEST_NAME}
        self.dirs: set[str] = set()
        self.count = 0
        self.max_members = max_members

    def check(self, entry: Entry) -> None:
        """Raise UnsafeArchive unless ``entry`` (a tarstream.Entry) may come next."""
        name = self.source
        check_member_path(entry.name)
        if entry.name != TAG_NAME:
            self.count += 1
        if self.max_members is not None and self.count > self.max_members:
            raise UnsafeArchive(
                f"{name}: more than {self.max_members:,} members (folders count too), "
                f"at {entry.name!r}"
            )
        if entry.is_dir:
            if entry.name not in self.folders:
                raise UnsafeArchive(f"{name}: refused directory {entry.name!r} not in manifest")
            if entry.name in self.dirs:
                raise UnsafeArchive(f"{name}: directory {entry.name!r} appears twice")
            self.dirs.add(entry.name)
            return
        if entry.name not in self.expected:
            raise UnsafeArchive(f"{name}: refused member {entry.name!r} not listed in manifest")
        if entry.name in self.seen:
            raise UnsafeArchive(f"{name}: member {entry.name!r} appears twice")
        if entry.size != self.expected[entry.name]:
            raise UnsafeArchive(
                f"{name}: member {entry.name!r} is {entry.size} bytes, manifest says "
                f"{self.expected[entry.name]}"
            )
        self.seen.add(entry.name)


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
    with _Reader(path) as reader, Sink() as sink, _maker(dest) as maker:
        tar = reader.tar
        manifest_bytes = _read_manifest_member(tar, name)
        manifest, expected = parse_manifest(manifest_bytes, name)
        total = sum(size for p, size in expected.items() if keep is None or keep(p))
        if max_bytes is not None and total > max_bytes:
            raise NotEnoughSpace(
                f"{name}: unpacks to {total:,} bytes, "
                f"more than the {max_bytes:,} bytes allowed here"
            )
        members = Members(name, expected, max_members)
        seen = members.seen
        small: dict[str, bytes | None] = {
            CHECKSUMS_NAME: None,
            TAG_NAME: None,
        }  # read whole, not written as files
        count = len(expected) + 1  # and the manifest: every member, as tar lists them
        while True:
            entry = tar.next_entry()
            if entry is None:
                break
            members.check(entry)
            if entry.is_dir:
                continue
            if small[CHECKSUMS_NAME] is not None:
                raise CorruptArchive(f"{name}: member {entry.name!r} after {CHECKSUMS_NAME}")
            if small[TAG_NAME] is not None and entry.name != CHECKSUMS_NAME:
                raise CorruptArchive(f"{name}: member {entry.name!r} after {TAG_NAME}")
            if entry.name in small:
                if entry.size > MAX_SUMS_BYTES:
                    raise UnsafeArchive(f"{name}: {entry.name} is implausibly large")
                small[entry.name] = data = b"".join(tar.data(entry))
                if maker is not None:
                    maker.write_bytes(entry.name, data)
            else:
                out = None
                if maker is not None and (keep is None or keep(entry.name)):
                    out = maker.open_new(entry.name)
                sink.begin(entry.name, out)
                for chunk in tar.data(entry):
                    sink.put(chunk)
                sink.end()
            if progress:
                progress(len(seen), count)
        missing = [p for p in expected if p not in seen]
        if missing:
            raise CorruptArchive(
                f"{name}: {len(missing)} member(s) listed in manifest are missing, "
                f"e.g. {missing[0]!r} (truncated archive?)"
            )
        digests = sink.finish()
    digests[MANIFEST_NAME] = hashlib.sha256(manifest_bytes).hexdigest()
    if (tag := small[TAG_NAME]) is not None:
        digests[TAG_NAME] = hashlib.sha256(tag).hexdigest()
    sums = small[CHECKSUMS_NAME]
    damage = checksum_problem(name, sums, digests)
    if key is not None:
        why = tag_problem(key, manifest, manifest_bytes, sums, small[TAG_NAME])
        if why is not None:
            state = "otherwise intact" if damage is None else f"not intact either ({damage})"
            raise Unauthenticated(
                f"{name}: not authenticated: {why}; its checksums are {state}", damage is None
            )
    if damage is not None:
        raise CorruptArchive(f"{name}: {damage}")
    return manifest


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


def read_back(
    path: str | PathLike[str], tail_offset: int, trailer: bytes
) -> tuple[Manifest, bytes, dict[str, bytes]]:
    """Read a just-written archive's manifest and, from ``tail_offset``, its last members.

    ``tail_offset`` is where a fresh deflate run holding the tag (if any) and
    SHA256SUMS starts; ``trailer`` the gzip trailer expected at the end. Returns
    (manifest, manifest bytes, {member: bytes}) as the reader parses them.
    """
    name = Path(path).name
    with _Reader(path) as reader:
        manifest_bytes = _read_manifest_member(reader.tar, name)
    manifest, expected = parse_manifest(manifest_bytes, name)
    members: dict[str, bytes] = {}
    with open(path, "rb") as raw:
        raw.seek(tail_offset)
        inflater = Inflater(raw, name, wbits=-15)
        tar = TarReader(inflater, name)
        while (entry := tar.next_entry()) is not None:
            if entry.name not in (CHECKSUMS_NAME, TAG_NAME) or entry.size != expected.get(
                entry.name
            ):
                raise CorruptArchive(f"{name}: unexpected member {entry.name!r} at the end")
            members[entry.name] = b"".join(tar.data(entry))
    if inflater.trailer != trailer:
        raise CorruptArchive(f"{name}: the gzip trailer is not the one written")
    return manifest, manifest_bytes, members
