"""Archives with late members: the manifest, first in the file, is written last in its room."""

import gzip
import os
import subprocess
import tarfile
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.archive.writer as writer_module
from app.archive import (
    ArchiveError,
    Late,
    Member,
    RoomExceeded,
    Stream,
    extract_archive,
    verify_archive,
    write_archive,
)
from app.archive.members import BLOCK

KEY = b"late-members-key"
STAND_IN_NOTE = "x" * 40


def late_source(texts, folder, gate=None):
    """Yield the texts one by one, as a dump would (waiting on ``gate`` first).

    Every other one is a complete file, the others Streams in pieces of 7000 bytes.
    """
    if gate is not None:
        gate.wait(timeout=30)
    for i, text in enumerate(texts):
        if i % 2:
            pieces = (text[start : start + 7000] for start in range(0, len(text), 7000))
            yield Stream(f"db/{i:03d}-t.jsonl", pieces)
            continue
        path = folder / f"t{i}.jsonl"
        path.write_bytes(text)
        yield Member(f"db/{i:03d}-t.jsonl", len(text), path, compressible=True)


def late_of(texts, folder, meta, **kw):
    return Late(
        [f"db/{i:03d}-t.jsonl" for i in range(len(texts))],
        late_source(texts, folder, **kw),
        lambda: meta,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stored=st.lists(st.integers(0, 150_000), max_size=3),
    texts=st.lists(st.binary(max_size=20_000).map(lambda b: b.hex().encode()), max_size=4),
    note=st.text(max_size=len(STAND_IN_NOTE)),
    rows=st.integers(0, 999_999_999_999_999),
)
def test_any_late_members_and_final_metadata_give_an_archive_every_reader_reads_whole(
    tmp_path_factory, stored, texts, note, rows
):
    folder = tmp_path_factory.mktemp("late")
    members = []
    for i, size in enumerate(stored):
        (folder / f"m{i}.jpg").write_bytes(os.urandom(size))
        members.append(Member(f"uploads/m{i}.jpg", size, folder / f"m{i}.jpg"))
    final = {"format": "stinkykitty-test", "note": note, "rows": rows}
    stand_in = {"format": "stinkykitty-test", "note": STAND_IN_NOTE, "rows": 10**15 - 1}
    result = write_archive(
        folder / "a.tar.gz",
        stand_in,
        members,
        late=late_of(texts, folder, final),
        digest=False,
        key=KEY,
    )

    manifest = extract_archive(result.path, folder / "ours", key=KEY)
    assert {k: manifest[k] for k in final} == final
    expected = {m.path: (folder / m.source.name).read_bytes() for m in members}
    expected.update({f"db/{i:03d}-t.jsonl": text for i, text in enumerate(texts)})
    assert [f["path"] for f in manifest["files"][:-1]] == list(expected)
    for path, data in expected.items():
        assert (folder / "ours" / path).read_bytes() == data
    # GNU tar and Python's gzip (which checks the CRC-32 and length) read it too.
    gnu = folder / "gnu"
    gnu.mkdir()
    subprocess.run(["tar", "xzf", str(result.path), "-C", str(gnu)], check=True)
    for path, data in expected.items():
        assert (gnu / path).read_bytes() == data
    with gzip.open(result.path) as whole:
        assert len(whole.read()) % tarfile.RECORDSIZE == 0


def test_the_manifest_is_padded_with_spaces_to_a_tar_block_and_parses(tmp_path):
    (tmp_path / "p.jpg").write_bytes(os.urandom(70_000))
    result = write_archive(
        tmp_path / "a.tar.gz",
        {"format": "stinkykitty-test", "note": STAND_IN_NOTE},
        [Member("uploads/p.jpg", 70_000, tmp_path / "p.jpg")],
        late=late_of([b'{"a":1}\n'], tmp_path, {"format": "stinkykitty-test", "note": "short"}),
        digest=False,
    )
    with tarfile.open(result.path) as tar:
        first = tar.next()
        head = tar.extractfile(first).read()
    assert first.name == "manifest.json"
    assert len(head) % BLOCK == 0
    assert head.rstrip(b" ").endswith(b"}")
    assert verify_archive(result.path)["note"] == "short"


def test_a_final_manifest_larger_than_its_room_is_refused_and_nothing_is_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    final = {"format": "stinkykitty-test", "note": os.urandom(4000).hex()}
    with pytest.raises(RoomExceeded):
        write_archive(
            out / "a.tar.gz",
            {"format": "stinkykitty-test", "note": "short"},
            [],
            late=late_of([b"{}\n"], tmp_path, final),
            digest=False,
        )
    assert list(out.iterdir()) == []


def test_a_failing_check_abandons_the_archive_while_media_are_still_being_stored(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    members = []
    for i in range(5):
        (tmp_path / f"m{i}.jpg").write_bytes(os.urandom(10_000))
        members.append(Member(f"uploads/m{i}.jpg", 10_000, tmp_path / f"m{i}.jpg"))
    stored = []
    real_add_stored = writer_module._add_stored

    def counting(gz, member, mtime):
        stored.append(member.path)
        return real_add_stored(gz, member, mtime)

    class Enough(Exception):
        pass

    gate = threading.Event()  # the late members come only once the check has failed

    def check():
        if len(stored) == 2:
            gate.set()
            raise Enough()

    late = Late(["db/000-t.jsonl"], late_source([b"{}\n"], tmp_path, gate=gate), dict, check)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(writer_module, "_add_stored", counting)
            with pytest.raises(Enough):
                write_archive(
                    out / "a.tar.gz",
                    {"format": "stinkykitty-test"},
                    members,
                    late=late,
                    digest=False,
                )
    finally:
        gate.set()
    assert stored == ["uploads/m0.jpg", "uploads/m1.jpg"]
    assert list(out.iterdir()) == []


def test_late_members_out_of_the_announced_order_are_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    late = Late(
        ["db/001-t.jsonl", "db/000-t.jsonl"],
        late_source([b"{}\n", b"{}\n"], tmp_path),
        lambda: {"format": "stinkykitty-test"},
    )
    with pytest.raises(ArchiveError, match="not the member announced next"):
        write_archive(out / "a.tar.gz", {"format": "stinkykitty-test"}, [], late=late, digest=False)
    assert list(out.iterdir()) == []


def test_late_members_cannot_be_hashed_whole(tmp_path):
    with pytest.raises(ValueError, match="hashed whole"):
        write_archive(
            tmp_path / "a.tar.gz",
            {"format": "stinkykitty-test"},
            [],
            late=late_of([], tmp_path, {"format": "stinkykitty-test"}),
        )
