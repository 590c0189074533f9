"""A large manifest and SHA256SUMS read as streams into a FileTable, not into Python objects.

Only what is plainly well formed is taken here: a manifest whose ``files``
entries are each exactly ``{"path": <string>, "size": <integer>}`` with no key
given twice, and checksum lines that parse. Anything else (a refusal, or just
something unusual) returns None, and the caller parses the member whole
(``parse_manifest``, ``parse_checksums``), so every refusal keeps the very
exception and message of the whole parse.
"""

from collections.abc import Iterator
from typing import IO, Any

import ijson

from app.archive.auth import TAG_NAME, TAG_SIZE
from app.archive.filelist import FileList, FileTable
from app.archive.names import CHECKSUMS_NAME, MANIFEST_NAME, check_member_path
from app.archive.sums import checksum_entry
from app.errors import StinkyKittyError

_Events = Iterator[tuple[str, Any]]
_ENTRY = ("map_key", "string", "map_key", "number", "end_map")


class _Unusual(StinkyKittyError):
    """Something the streamed parse leaves to the whole parse (never leaves this module)."""


def stream_manifest(file: IO[bytes], table: FileTable) -> dict[str, Any] | None:
    """Read a manifest's JSON from ``file`` into ``table``; return it with ``files`` a FileList.

    Return None for anything but a plain, valid manifest (the whole parse then judges it).
    The format and version are left to the caller.
    """
    try:
        manifest = _read(ijson.basic_parse(file, use_float=True), table)
    except Exception:  # ijson's errors, and everything unusual: the whole parse judges
        return None
    return manifest


def _read(events: _Events, table: FileTable) -> dict[str, Any]:
    if next(events)[0] != "start_map":
        raise _Unusual
    manifest: dict[str, Any] = {}
    for event, key in events:
        if event == "end_map":
            break
        if key in manifest:
            raise _Unusual  # a key given twice: the whole parse keeps the last one
        if key == "files":
            manifest[key] = None  # its place among the keys, filled below
            if not table.add_many(_files(events)):
                raise _Unusual
        else:
            manifest[key] = _value(events)
    for _ in events:
        raise _Unusual
    if "files" not in manifest or table.size_of(CHECKSUMS_NAME) is None:
        raise _Unusual
    table.listed_count = table.count
    authentication = manifest.get("authentication")
    if authentication is not None:
        if not isinstance(authentication, dict) or authentication.get("member") != TAG_NAME:
            raise _Unusual
        if not table.add(TAG_NAME, TAG_SIZE):
            raise _Unusual
    manifest["files"] = FileList(table)
    return manifest


def _files(events: _Events) -> Iterator[tuple[str, int]]:
    """Yield each entry of the manifest's ``files`` as (path, size), raising _Unusual."""
    if next(events)[0] != "start_array":
        raise _Unusual
    for event, _ in events:
        if event == "end_array":
            return
        if event != "start_map":
            raise _Unusual
        entry = [next(events) for _ in _ENTRY]
        if tuple(kind for kind, _ in entry) != _ENTRY:
            raise _Unusual
        (_, path_key), (_, path), (_, size_key), (_, size), _ = entry
        if path_key != "path" or size_key != "size" or type(size) is not int or size < 0:
            raise _Unusual
        if check_member_path(path) == MANIFEST_NAME:
            raise _Unusual
        yield path, size
    raise _Unusual


def _value(events: _Events) -> Any:
    """Build one JSON value (what ``json.loads`` would make of it) from its events."""
    builder = ijson.ObjectBuilder()
    depth = 0
    for event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if depth == 0:
            return builder.value
    raise _Unusual


def stream_checksums(lines: Iterator[bytes], table: FileTable) -> bool:
    """Read SHA256SUMS lines (each with its line feed) into ``table``; False if not plain."""
    plain = True

    def entries() -> Iterator[tuple[str, str]]:
        nonlocal plain
        for line in lines:
            if not line.endswith(b"\n"):
                plain = False
                return
            try:
                yield checksum_entry(line[:-1])
            except ValueError:
                plain = False
                return

    return table.add_listed_many(entries()) and plain
