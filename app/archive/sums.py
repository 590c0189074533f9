"""The SHA256SUMS member and the manifest's bytes: any file name Linux allows, exactly.

Member names are Python strings whose bytes are ``os.fsencode(name)``: names that
are not UTF-8 hold lone surrogates (``surrogateescape``), as ``os.listdir``
returns them, so every name round-trips byte for byte.

SHA256SUMS uses GNU coreutils' escaping, so ``sha256sum -c`` reads it: a name
holding a backslash, a line feed or a carriage return is written with them as
``\\\\``, ``\\n`` and ``\\r``, and its line starts with a backslash. Lines end with
a line feed only; Unicode line separators are ordinary characters. Names are
written as their raw bytes (not necessarily UTF-8), as ``sha256sum`` prints them.
"""

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring as _encode_string
from typing import Any

from app.archive.errors import CorruptArchive
from app.archive.spool import Blob
from app.errors import StinkyKittyError

_ESCAPES = {b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r"}
_UNESCAPES = {b"\\\\": b"\\", b"\\n": b"\n", b"\\r": b"\r"}
_NEEDS_ESCAPE = re.compile(rb"[\\\n\r]")
_ESCAPED = re.compile(rb"\\.?", re.DOTALL)
_HEX = re.compile(rb"[0-9a-f]{64}\Z")


def name_bytes(name: str) -> bytes:
    """Return the bytes of member ``name`` (UTF-8, lone surrogates as the bytes they stand for)."""
    return name.encode("utf-8", "surrogateescape")


def name_from_bytes(data: bytes) -> str:
    """Return the member name whose bytes are ``data``."""
    return data.decode("utf-8", "surrogateescape")


def checksum_line(name: str, digest: str) -> bytes:
    """Return the SHA256SUMS line of ``name`` with hex ``digest``, GNU-escaped when needed."""
    raw = name_bytes(name)
    if _NEEDS_ESCAPE.search(raw):
        raw = _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], raw)
        return b"\\" + digest.encode("ascii") + b"  " + raw + b"\n"
    return digest.encode("ascii") + b"  " + raw + b"\n"


def checksums_size(names: Iterable[str]) -> int:
    """Return the exact size of the SHA256SUMS member listing ``names``."""
    return sum(checksum_line_size(name_bytes(name)) for name in names)


def checksum_line_size(raw: bytes) -> int:
    """Return the size of the SHA256SUMS line of the name whose bytes are ``raw``."""
    if _NEEDS_ESCAPE.search(raw):  # as checksum_line escapes it, after a leading backslash
        raw = _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], raw)
        return 1 + 64 + 2 + len(raw) + 1
    return 64 + 2 + len(raw) + 1


def _unescape(match: re.Match[bytes]) -> bytes:
    text = match.group()
    if text not in _UNESCAPES:
        raise ValueError(f"unknown escape {text!r}")
    return _UNESCAPES[text]


def parse_checksums(data: bytes, source: str, member: str) -> dict[str, str]:
    """Parse SHA256SUMS bytes into {name: hex digest}; raise CorruptArchive naming the line."""
    if data and not data.endswith(b"\n"):
        raise CorruptArchive(f"{source}: {member} is malformed (its last line is cut)")
    listed: dict[str, str] = {}
    for number, line in enumerate(iter_lines(data), 1):
        try:
            name, digest = checksum_entry(line)
        except ValueError as exc:
            reason = f"line {number}: {exc}"
            raise CorruptArchive(f"{source}: {member} is malformed ({reason})") from None
        if name in listed:
            raise CorruptArchive(f"{source}: {member} lists {name!r} twice")
        listed[name] = digest
    return listed


def checksum_entry(line: bytes) -> tuple[str, str]:
    """Return (name, hex digest) of one SHA256SUMS line without its line feed, or ValueError."""
    escaped = line.startswith(b"\\")
    if escaped:
        line = line[1:]
    digest, raw = line[:64], line[66:]
    if not _HEX.match(digest) or line[64:66] != b"  " or not raw:
        raise ValueError("not '<sha256>  <name>'")
    if escaped:
        raw = _ESCAPED.sub(_unescape, raw)
    elif _NEEDS_ESCAPE.search(raw):
        raise ValueError("a backslash in a name, on a line that does not start with one")
    return name_from_bytes(raw), digest.decode("ascii")


def iter_lines(data: bytes) -> Iterator[bytes]:
    """Yield the lines of ``data`` (which ends with a line feed) one at a time, without it.

    Not ``split``: a list of a hundred thousand lines would cost verify and
    restore several times the member's own size at once.
    """
    start = 0
    while start < len(data):
        end = data.index(b"\n", start)
        yield data[start:end]
        start = end + 1


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Return ``manifest`` as UTF-8 JSON; names that are not UTF-8 keep their bytes as escapes.

    A lone surrogate (a byte of a non-UTF-8 name) is written as the JSON escape
    ``\\udcXX``, which ``json.loads`` reads back as the same lone surrogate.
    A file list that is a sequence but not a list (a reader's, of a large
    archive) is written as the list it reads as.
    """
    files = manifest.get("files")
    if isinstance(files, Sequence) and not isinstance(files, list | str | bytes):
        manifest = {**manifest, "files": list(files)}
    data = _fast_manifest_bytes(manifest)
    if data is None:
        data = _encode(json.dumps(manifest, indent=1, ensure_ascii=False))
    return data


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")


_FILES_TOKEN = "\x00files\x00"  # a stand-in for the file list while the rest is encoded
PIECE = 64 * 1024  # bytes of a manifest made at a time


def manifest_bytes_of(meta: Mapping[str, Any], files: Iterable[tuple[str, int]]) -> bytes:
    """Return ``manifest_bytes`` of ``meta`` with ``files`` last, each (path, size) an entry.

    The same bytes as ``manifest_bytes({**meta, "files": [{"path": p, "size": s}, ...]})``,
    without a dict per file in between (see ``manifest_blob``).
    """
    blob = manifest_blob(meta, files, in_memory=True)
    return blob.data()


def manifest_blob(
    meta: Mapping[str, Any], files: Iterable[tuple[str, int]], *, in_memory: bool
) -> Blob:
    """Return the bytes of ``manifest_bytes_of(meta, files)`` as a Blob, made a piece at a time.

    Spooled (``in_memory`` false), a manifest of a hundred thousand files is never
    whole in memory. ``files`` (not an iterator) is read once, or twice when an
    entry is not a plain (str, int) pair and ``json`` writes it all.
    """
    pairs = ((path, size, True) for path, size in files)
    try:
        return Blob(_file_list_pieces({**meta, "files": _FILES_TOKEN}, pairs), in_memory)
    except _NotPlain:
        whole = {**meta, "files": [{"path": p, "size": s} for p, s in files]}
        return Blob([manifest_bytes(whole)], in_memory=True)


def _fast_manifest_bytes(manifest: Mapping[str, Any]) -> bytes | None:
    """Return what ``json.dumps(manifest, indent=1, ensure_ascii=False)`` encodes to, or None.

    The file list (a hundred thousand entries in a large backup) is written
    entry by entry, straight into one buffer of bytes, and the rest by
    ``json``; None when an entry is not a plain ``{"path": str, "size": int}``
    (``json`` then writes it all). ``tests/test_archive_manifest_bytes.py``
    compares the two.
    """
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        return None
    return _with_file_list({**manifest, "files": _FILES_TOKEN}, map(_plain_entry, files))


def _plain_entry(entry: object) -> tuple[Any, Any, bool]:
    """Return (path, size, whether the entry is a plain {"path": ..., "size": ...})."""
    if type(entry) is not dict or len(entry) != 2 or next(iter(entry)) != "path":
        return None, None, False
    return entry.get("path"), entry.get("size"), True


class _NotPlain(StinkyKittyError):
    """The fast path cannot write this manifest: ``json`` writes it all (never leaves here)."""


def _with_file_list(
    manifest: Mapping[str, Any], entries: Iterable[tuple[Any, Any, bool]]
) -> bytes | None:
    """Return ``manifest``'s bytes with ``entries`` as the list where its files token stands.

    None when the fast path does not apply (see ``_file_list_pieces``).
    """
    try:
        return b"".join(_file_list_pieces(manifest, entries))
    except _NotPlain:
        return None


def _file_list_pieces(
    manifest: Mapping[str, Any], entries: Iterable[tuple[Any, Any, bool]]
) -> Iterator[bytes]:
    """Yield ``manifest``'s bytes with ``entries`` as the list where its files token stands.

    Each entry is written in the very layout ``json.dumps(indent=1)`` gives a
    ``{"path": str, "size": int}``, in pieces of about ``PIECE`` bytes. Raises
    _NotPlain when one is not such a pair, when there is none (``json`` writes
    ``[]``) or when the token appears twice: ``json`` then writes it all.
    """
    rest = json.dumps(manifest, indent=1, ensure_ascii=False)
    token = json.dumps(_FILES_TOKEN, ensure_ascii=False)
    if rest.count(token) != 1:
        raise _NotPlain()
    before, after = rest.split(token)
    out = bytearray(_encode(before))
    out += b"[\n"
    separator = b""
    for path, size, plain in entries:
        if not plain or type(path) is not str or type(size) is not int:
            raise _NotPlain()
        out += separator
        out += _encode(f'  {{\n   "path": {_encode_string(path)},\n   "size": {size}\n  }}')
        separator = b",\n"
        if len(out) >= PIECE:
            yield bytes(out)
            out.clear()
    if not separator:
        raise _NotPlain()
    out += b"\n ]"
    out += _encode(after)
    yield bytes(out)


def lists_in_order(sums: bytes | Blob | None, listed: Iterable[tuple[str, str]]) -> bool:
    """Return whether ``sums`` reads, line by line, as the (name, hex digest) pairs ``listed``.

    What ``checksum_problem`` accepts, without a dict of every line: names
    that are distinct (a manifest's are) and each read back as itself.
    ``sums`` may be spooled (a Blob): it is then read a line at a time.
    """
    if sums is None or not sums.endswith(b"\n"):
        return False
    lines = iter_lines(sums) if isinstance(sums, bytes) else _blob_lines(sums)
    for expected in listed:
        line = next(lines, None)
        try:
            if line is None or checksum_entry(line) != expected:
                return False
        except ValueError:
            return False
    return next(lines, None) is None


def _blob_lines(blob: Blob) -> Iterator[bytes]:
    """Yield the lines of a Blob that ends with a line feed, without it."""
    for line in blob.lines():
        yield line[:-1]
