"""The writer reads its members again instead of holding them: the same archive, every check."""

import hashlib
import re
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.archive import ArchiveError, Late, Member, extract_archive, verify_archive, write_archive
from app.archive.digests import DigestSpool
from app.archive.listing import BATCH
from app.archive.sums import (
    checksum_line,
    checksum_line_size,
    checksums_size,
    manifest_blob,
    manifest_bytes_of,
    name_bytes,
    parse_checksums,
)
from app.archive.writer import MANIFEST_IN_MEMORY

KEY = b"listing-key"
META = {"format": "stinkykitty-test"}


class View:
    """Members made afresh each time they are read, as the media spool's view makes them."""

    def __init__(self, specs):
        self.specs = specs  # (path, bytes, compressible)
        self.reads = 0

    def __iter__(self):
        self.reads += 1
        for path, data, compressible in self.specs:
            yield Member(path, len(data), bytes(data), compressible=compressible)


def listed_members(specs):
    return [Member(path, len(data), data, compressible=c) for path, data, c in specs]


name_part = st.text(
    st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12
).filter(lambda part: part not in (".", ".."))
specs_strategy = st.lists(
    st.tuples(
        st.lists(name_part, min_size=1, max_size=3).map(lambda parts: "uploads/" + "/".join(parts)),
        st.binary(max_size=3000),
        st.sampled_from([None, True, False]),
    ),
    max_size=12,
    unique_by=lambda spec: spec[0],
)


def _write(folder, name, members, **kw):
    return write_archive(folder / name, META, members, digest=False, **kw)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(specs=specs_strategy, keyed=st.booleans())
def test_a_view_read_again_gives_the_very_archive_a_list_gives(
    tmp_path_factory, monkeypatch, specs, keyed
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    folder = tmp_path_factory.mktemp("listing")
    key = KEY if keyed else None
    told = []
    view = View(specs)
    try:
        from_list = _write(folder, "list.tar.gz", listed_members(specs), key=key)
    except ArchiveError as exc:  # a name a reader would refuse: refused alike, nothing kept
        refused = str(exc)
    else:
        refused = None
    if refused is not None:
        with pytest.raises(ArchiveError, match=re.escape(refused)):
            _write(folder, "view.tar.gz", view, key=key)
        assert not list(folder.iterdir())
        return
    from_view = _write(folder, "view.tar.gz", view, key=key, on_member=lambda *m: told.append(m))
    assert from_view.path.read_bytes() == from_list.path.read_bytes()
    assert view.reads >= 2  # read again, not copied
    manifest = verify_archive(from_view.path, key=key)
    assert sorted(f["path"] for f in manifest["files"][:-1]) == sorted(p for p, _d, _c in specs)
    expected = {path: (len(data), hashlib.sha256(data).hexdigest()) for path, data, _c in specs}
    assert {path: (size, sha) for path, size, sha in told} == expected
    assert len(told) == len(specs)
    extract_archive(from_view.path, folder / "out", key=key)
    for path, data, _c in specs:
        assert (folder / "out" / path).read_bytes() == data


def test_a_one_time_iterator_is_read_once_and_gives_the_same_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    specs = [("uploads/a.jpg", b"a" * 5000, None), ("notes.txt", b"text " * 900, None)]
    from_list = _write(tmp_path, "list.tar.gz", listed_members(specs))
    from_iterator = _write(tmp_path, "iter.tar.gz", iter(listed_members(specs)))
    assert from_iterator.path.read_bytes() == from_list.path.read_bytes()


@pytest.mark.parametrize("apart", [1, BATCH, 3 * BATCH + 7])
def test_a_name_given_twice_is_refused_before_a_byte_is_written(tmp_path, apart):
    specs = [(f"uploads/{n}.jpg", b"x", False) for n in range(apart)]
    specs.append(("uploads/0.jpg", b"y", False))
    view = View(specs)
    with pytest.raises(ArchiveError, match="distinct names"):
        _write(tmp_path, "a.tar.gz", view)
    assert view.reads == 1
    assert list(tmp_path.iterdir()) == []


def test_a_late_member_named_as_a_stored_one_is_refused(tmp_path):
    late = Late(["uploads/0.jpg"], iter(()), lambda: META)
    with pytest.raises(ArchiveError, match="distinct names"):
        _write(tmp_path, "a.tar.gz", View([("uploads/0.jpg", b"x", False)]), late=late)
    assert list(tmp_path.iterdir()) == []


def test_on_member_is_told_the_deflated_and_late_members_with_their_size(tmp_path):
    gate = threading.Event()
    text = b'{"id": 1}\n' * 3000

    def dumps():
        gate.wait(timeout=30)
        path = tmp_path / "t.jsonl"
        path.write_bytes(text)
        yield Member("db/001-t.jsonl", len(text), path, compressible=True)

    told = []

    def on_member(path, size, sha256):
        told.append((path, size, sha256))
        gate.set()  # the first member stored lets the dump finish

    specs = [("uploads/p.jpg", b"p" * 700, False), ("readme.txt", b"read me " * 300, True)]
    result = _write(
        tmp_path,
        "a.tar.gz",
        View(specs),
        late=Late(["db/001-t.jsonl"], dumps(), lambda: META),
        key=KEY,
        on_member=on_member,
    )
    expected = [(p, len(d), hashlib.sha256(d).hexdigest()) for p, d, _c in specs]
    expected.append(("db/001-t.jsonl", len(text), hashlib.sha256(text).hexdigest()))
    assert told == expected  # stored, then deflated, then late: the archive's order
    extract_archive(result.path, tmp_path / "out", key=KEY)
    sums = parse_checksums((tmp_path / "out" / "SHA256SUMS").read_bytes(), "a", "SHA256SUMS")
    assert {path: sha for path, _size, sha in told}.items() <= sums.items()


@settings(max_examples=30, deadline=None)
@given(count=st.integers(0, 5000), seed=st.binary(min_size=1, max_size=8))
def test_the_digest_spool_gives_back_every_digest_in_order(count, seed):
    digests = [hashlib.sha256(seed + n.to_bytes(4, "big")).hexdigest() for n in range(count)]
    with DigestSpool() as spool:
        for digest in digests:
            spool.add(digest)
        assert spool.count == count
        assert list(spool) == digests
        assert list(spool) == digests  # read again, the same


@pytest.mark.parametrize("keyed", [False, True])
def test_a_manifest_of_many_members_is_spooled_and_reads_back_whole(tmp_path, keyed):
    """Past MANIFEST_IN_MEMORY members the manifest is a temporary file, late or not."""
    count = MANIFEST_IN_MEMORY + 500
    specs = [(f"uploads/{n % 7}/{n}.jpg", n.to_bytes(3, "big"), False) for n in range(count)]
    key = KEY if keyed else None
    text = b'{"id": 1}\n' * 50

    def dumps():
        path = tmp_path / "t.jsonl"
        path.write_bytes(text)
        yield Member("db/001-t.jsonl", len(text), path, compressible=True)

    plain = _write(tmp_path, "plain.tar.gz", View(specs), key=key)
    late = _write(
        tmp_path,
        "late.tar.gz",
        View(specs),
        late=Late(["db/001-t.jsonl"], dumps(), lambda: {**META, "rows": 50}),
        key=key,
    )
    for result, extra in ((plain, []), (late, [("db/001-t.jsonl", text, True)])):
        manifest = extract_archive(result.path, tmp_path / result.path.name[:4], key=key)
        assert [f["path"] for f in manifest["files"][:-1]] == [p for p, _d, _c in specs + extra]
        for path, data, _c in specs + extra:
            assert (tmp_path / result.path.name[:4] / path).read_bytes() == data
    assert extract_archive(late.path, tmp_path / "again", key=key)["rows"] == 50


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.lists(st.tuples(name_part, st.integers(0, 2**40)), max_size=3000),
    note=st.text(max_size=30),
)
def test_a_spooled_manifest_has_the_bytes_of_one_made_in_memory(pairs, note):
    meta = {"format": "stinkykitty-test", "note": note}
    spooled = manifest_blob(meta, pairs, in_memory=False)
    try:
        data = b"".join(spooled.chunks())
        assert data == manifest_bytes_of(meta, pairs)
        assert spooled.size == len(data)
        assert spooled.sha256 == hashlib.sha256(data).hexdigest()
    finally:
        spooled.close()


@given(name=st.text(min_size=1) | st.sampled_from(["a\\b", "a\nb\r", "\udcff\\", "\u2028"]))
def test_a_checksum_line_is_as_long_as_its_size_says(name):
    line = checksum_line(name, "0" * 64)
    assert checksum_line_size(name_bytes(name)) == len(line)
    assert checksums_size([name, "x"]) == len(line) + len(checksum_line("x", "0" * 64))
