"""Any archive costs bounded memory and inflation, whatever its headers, tail, members or lines.

Hostile archives are built by hand: chains of extended headers before the
manifest, zeros or junk after the end-of-archive blocks, repeated folder
entries, dump files with rows of any length. For each, reading either works
or is refused with one line of the format's own error class, and the memory
it takes (tracemalloc peak) and the bytes it inflates stay under a bound that
does not grow with what the hostile part holds.
"""

import gzip
import io
import tarfile
import tracemalloc
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.archive import read_manifest, read_member, verify_archive
from app.archive.errors import ArchiveError, UnsafeArchive
from app.archive.reader import extract_archive
from app.archive.tarstream import BLOCK, CHUNK, MAX_EXTENDED_CHAIN, RECORD, Inflater
from app.archive.trees import remove_tree
from app.dumps.lines import RowTooLong, read_blocks, read_lines
from tests import craft
from tests.craft import extended, honest_tar, records

MiB = 1024 * 1024
FILES = craft.HONEST_FILES
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextmanager
def peak_memory():
    """Yield a dict whose "peak" is the tracemalloc peak (bytes) of the block."""
    result = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@contextmanager
def inflation(monkeypatch):
    """Yield a dict whose "bytes" counts every byte the readers inflate meanwhile."""
    counted = {"bytes": 0}
    real = Inflater._fill

    def counting(self):
        filled = real(self)
        if filled:
            counted["bytes"] += len(self._buffer)
        return filled

    monkeypatch.setattr(Inflater, "_fill", counting)
    yield counted


def assert_clean_refusal(exc, target, before):
    """A refusal is one line of ArchiveError, and the target folder is as it was."""
    assert isinstance(exc, ArchiveError), repr(exc)
    assert "\n" not in str(exc)
    assert sorted(p.name for p in target.iterdir() if p.name != "staging") == sorted(before)
    for name, data in before.items():
        assert (target / name).read_bytes() == data


def read_every_way(path, target):
    """Read ``path`` as the app does (manifest, one member, verify, extract); return the error."""
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    staging = target / "staging"
    try:
        read_manifest(path)
        read_member(path, "uploads/1/b.jpg", max_bytes=MiB)
        verify_archive(path)
        extract_archive(path, staging)
    except Exception as exc:  # the one error class, checked by the caller
        assert_clean_refusal(exc, target, before)
        return exc
    finally:
        remove_tree(staging)
    return None


@pytest.fixture
def target(tmp_path):
    folder = tmp_path / "target"
    folder.mkdir()
    (folder / "keep.txt").write_bytes(b"untouched")
    return folder


chains = st.lists(
    st.tuples(
        st.sampled_from(["x", "L"]),
        st.integers(0, 1 * MiB - 4096),  # each header under the old per-header cap
        st.sampled_from([8, 40, 500]),  # record width: many small keys or few long ones
    ),
    min_size=1,
    max_size=5,
)


@SETTINGS
@given(chain=chains)
def test_extended_header_chains_cost_bounded_memory_or_are_refused(tmp_path, target, chain):
    """Before the manifest, any chain of pax / long-name headers: read, or refused naming it."""
    headers = b""
    for kind, size, width in chain:
        if kind == "L":
            headers += extended("L", b"manifest.json\0" + b"\0" * max(0, size - 14))
        else:
            headers += extended("x", records(max(1, size // (width + 12)), width))
    path = tmp_path / "chain.tar.gz"
    path.write_bytes(gzip.compress(headers + honest_tar(), 1))
    with peak_memory() as memory:
        error = read_every_way(path, target)
    assert memory["peak"] < 24 * MiB  # headers of up to 5 MiB, decompressed chunks of 1 MiB
    if len(headers) > MAX_EXTENDED_CHAIN:
        assert isinstance(error, UnsafeArchive), error
        assert "extended headers" in str(error)
        assert "offset 0" in str(error)
    else:
        assert error is None


@SETTINGS
@given(
    zeros=st.one_of(st.integers(0, 2 * RECORD), st.integers(0, 64 * MiB)),
    junk=st.sampled_from([b"", b"x", b"\x1f\x8b"]),
    after_gzip=st.sampled_from([b"", bytes(4096), b"\0\0junk"]),
)
def test_nothing_after_the_end_of_archive_is_inflated(
    tmp_path, target, monkeypatch, zeros, junk, after_gzip
):
    """Zeros (however many) or junk after the end: at most one record is inflated past it."""
    tar = honest_tar()
    with tarfile.open(fileobj=io.BytesIO(tar)) as parsed:
        last = parsed.getmembers()[-1]
    end = last.offset_data + -(-last.size // BLOCK) * BLOCK + 2 * BLOCK  # after the zero blocks
    padding = len(tar) - end
    path = tmp_path / "tail.tar.gz"
    path.write_bytes(gzip.compress(tar + bytes(zeros) + junk, 1) + after_gzip)
    with inflation(monkeypatch) as inflated:
        error = read_every_way(path, target)
    assert inflated["bytes"] <= 4 * (len(tar) + RECORD + CHUNK)  # four reads, never the tail
    if padding + zeros + len(junk) <= RECORD and not junk and not after_gzip.strip(b"\0"):
        assert error is None
    else:
        assert isinstance(error, UnsafeArchive), error


@SETTINGS
@given(
    folders=st.lists(st.sampled_from(["uploads", "uploads/1", "uploads/2"]), max_size=6),
    limit=st.integers(1, 8),
)
def test_every_entry_counts_folders_too_and_none_comes_twice(tmp_path, target, folders, limit):
    """A folder entry counts against the member limit and may come only once, like a file."""
    entries = []
    for name in folders:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        entries.append(info)
    path = tmp_path / "folders.tar.gz"
    path.write_bytes(gzip.compress(honest_tar(extra_entries=entries), 1))
    members = len(FILES) + 1 + len(folders)  # the files, SHA256SUMS, the folder entries
    try:
        verify_archive(path, max_members=limit)
        error = None
    except ArchiveError as exc:
        error = exc
    wanted = [f for f in folders if f != "uploads/2"]  # no listed file in uploads/2
    if len(set(wanted)) != len(wanted) or "uploads/2" in folders or members > limit:
        assert isinstance(error, UnsafeArchive), error
        assert "\n" not in str(error)
    else:
        assert error is None


lines = st.lists(st.one_of(st.integers(0, 200), st.integers(0, 300_000)), min_size=1, max_size=12)


@SETTINGS
@given(lengths=lines, max_row=st.sampled_from([1000, 64 * 1024]), final=st.booleans())
def test_dump_lines_are_read_whole_or_refused_with_bounded_memory(
    tmp_path, lengths, max_row, final
):
    """Rows of any length: each read back exactly, or the first too long one refused by line."""
    rows = [bytes([97 + n % 26]) * length for n, length in enumerate(lengths)]
    path = tmp_path / "001-blocks.jsonl"
    path.write_bytes(b"\n".join(rows) + (b"\n" if final else b""))
    expected = path.read_bytes().split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # the file's last line feed ends a line, it does not start one
    too_long = [n for n, row in enumerate(rows, 1) if len(row) > max_row]
    block = 4096
    warm = tmp_path / "000-warm.jsonl"  # what a first call allocates once is not per row
    warm.write_bytes(b"{}\n")
    list(read_lines(warm, "blocks", max_row, block))
    list(read_blocks(warm, "blocks", max_row, block))
    with peak_memory() as memory:
        try:
            got = list(read_lines(path, "blocks", max_row, block))
            blocks = b"".join(read_blocks(path, "blocks", max_row, block))
            error = None
        except RowTooLong as exc:
            error = exc
    assert memory["peak"] < 4 * (max_row + block) + 256 * 1024
    if too_long:
        assert error is not None
        assert str(error).startswith(f"table blocks, row {too_long[0]}: longer than ")
        assert f"001-blocks.jsonl line {too_long[0]}" in str(error)
    else:
        assert error is None
        assert [line.removesuffix(b"\n") for line in got] == expected
        assert blocks == path.read_bytes()
