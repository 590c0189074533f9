"""Archives: written atomically in one pass, read by standard tools, refused when bad."""

import gzip
import os
import shutil
import subprocess
import tarfile
import zlib

import pytest

from app.archive import (
    Member,
    extract_archive,
    member_count,
    read_manifest,
    remove_temporaries,
    verify_archive,
    write_archive,
)
from app.archive.errors import CorruptArchive, NotEnoughSpace, UnsafeArchive
from tests import craft
from tests.processes import small_filesystem


@pytest.fixture
def sources(tmp_path):
    """A photo-like (incompressible) file, a text file and an empty one."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "photo.jpg").write_bytes(os.urandom(2_500_000))
    (src / "rows.jsonl").write_bytes(b'{"id": 1, "title": "Camp \\u2603"}\n' * 20_000)
    (src / "empty").write_bytes(b"")
    return src


def members_of(src):
    return [
        Member("uploads/7/photo.jpg", (src / "photo.jpg").stat().st_size, src / "photo.jpg"),
        Member("db/001-pages.jsonl", (src / "rows.jsonl").stat().st_size, src / "rows.jsonl"),
        Member("uploads/7/empty", 0, src / "empty"),
        Member("README.md", 13, "ünïcode ok\n".encode()),
    ]


def test_round_trip_restores_every_byte(tmp_path, sources):
    seen = []
    result = write_archive(
        tmp_path / "a.tar.gz",
        {"format": "stinkykitty-test", "note": "☃"},
        members_of(sources),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    read = []
    manifest = extract_archive(
        result.path, tmp_path / "out", progress=lambda done, total: read.append((done, total))
    )
    with tarfile.open(result.path) as tar:
        listed = len(tar.getnames())  # the manifest, the four files and SHA256SUMS
    assert member_count(manifest) == listed == 6
    assert read[-1] == (listed, listed)  # reading counts every member, as tar lists them
    assert manifest["note"] == "☃"
    assert [f["path"] for f in manifest["files"]] == [
        "uploads/7/photo.jpg",
        "db/001-pages.jsonl",
        "uploads/7/empty",
        "README.md",
        "SHA256SUMS",
    ]
    for member in members_of(sources):
        data = member.source if isinstance(member.source, bytes) else member.source.read_bytes()
        assert (tmp_path / "out" / member.path).read_bytes() == data
    assert read_manifest(result.path) == manifest
    assert result.size == result.path.stat().st_size


def test_standard_tools_read_it_and_check_its_sums(tmp_path, sources):
    result = write_archive(
        tmp_path / "a.tar.gz", {"format": "stinkykitty-test"}, members_of(sources)
    )
    out = tmp_path / "tar-out"
    out.mkdir()
    subprocess.run(["tar", "xzf", str(result.path), "-C", str(out)], check=True)
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 5
    # One gzip member: Python's stream mode reads to the last member.
    with tarfile.open(result.path, "r|gz") as tar:
        assert [m.name for m in tar][-1] == "SHA256SUMS"
    shutil.rmtree(out)


def test_incompressible_media_are_stored_and_text_is_deflated(tmp_path, sources):
    result = write_archive(
        tmp_path / "a.tar.gz", {"format": "stinkykitty-test"}, members_of(sources)
    )
    photo = (sources / "photo.jpg").stat().st_size
    text = (sources / "rows.jsonl").read_bytes()
    # Stored media cost 5 bytes per 64 KiB block; the text deflates about as well as gzip does.
    stored_overhead = 5 * (photo // 65535 + 1)
    assert photo < result.size < photo + stored_overhead + 2 * len(zlib.compress(text, 6)) + 4096
    assert gzip.decompress(result.path.read_bytes())  # a valid gzip stream


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, sources):
    members = members_of(sources)
    members.append(Member("uploads/7/gone.jpg", 10, tmp_path / "does-not-exist.jpg"))
    with pytest.raises(FileNotFoundError):
        write_archive(tmp_path / "a.tar.gz", {"format": "stinkykitty-test"}, members)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


@pytest.mark.parametrize("name", ["photo.jpg", "rows.jsonl"])  # stored here, deflated in a thread
def test_a_source_that_shrank_fails_cleanly(tmp_path, sources, name):
    size = (sources / name).stat().st_size + 1
    members = [Member(f"data/{name}", size, sources / name)]
    with pytest.raises(Exception, match="shrank"):
        write_archive(tmp_path / "a.tar.gz", {"format": "stinkykitty-test"}, members)
    assert not list(tmp_path.glob("*.tar.gz"))
    assert not list(tmp_path.glob(".*tmp*"))


def test_remove_temporaries_cleans_crash_leftovers(tmp_path):
    (tmp_path / ".stinkykitty-x.tar.gz.tmp-ab12").write_bytes(b"partial")
    (tmp_path / "stinkykitty-x.tar.gz").write_bytes(b"keep")
    assert remove_temporaries(tmp_path) == [".stinkykitty-x.tar.gz.tmp-ab12"]
    assert [p.name for p in tmp_path.iterdir()] == ["stinkykitty-x.tar.gz"]


@pytest.fixture
def tiny_fs(tmp_path):
    """A real 3 MiB tmpfs, so the disk really fills up."""
    with small_filesystem(tmp_path / "tiny", "3m") as mount:
        yield mount


def test_disk_full_is_a_clear_error_and_leaves_nothing(tiny_fs, sources):
    (tiny_fs / "older.tar.gz").write_bytes(b"an older backup")
    big = sources / "big.jpg"
    big.write_bytes(os.urandom(4_000_000))
    with pytest.raises(NotEnoughSpace, match="disk full"):
        write_archive(
            tiny_fs / "new.tar.gz",
            {"format": "stinkykitty-test"},
            [Member("uploads/1/big.jpg", 4_000_000, big)],
        )
    assert [p.name for p in tiny_fs.iterdir()] == ["older.tar.gz"]
    assert (tiny_fs / "older.tar.gz").read_bytes() == b"an older backup"


def test_extraction_into_a_full_disk_is_a_clear_error(tiny_fs, tmp_path, sources):
    big = sources / "big.jpg"
    big.write_bytes(os.urandom(4_000_000))
    archive = write_archive(
        tmp_path / "a.tar.gz",
        {"format": "stinkykitty-test"},
        [Member("uploads/1/big.jpg", 4_000_000, big)],
    )
    with pytest.raises(NotEnoughSpace):
        extract_archive(archive.path, tiny_fs / "staging")


# --- damaged archives -------------------------------------------------------------------


@pytest.fixture
def good(tmp_path, sources):
    return write_archive(
        tmp_path / "good.tar.gz", {"format": "stinkykitty-test"}, members_of(sources)
    )


def test_truncated_archive_is_refused(tmp_path, good):
    data = good.path.read_bytes()
    for cut in (len(data) - 8, len(data) // 2, 100):
        bad = tmp_path / f"cut{cut}.tar.gz"
        bad.write_bytes(data[:cut])
        with pytest.raises(CorruptArchive):
            verify_archive(bad)


def test_one_flipped_byte_is_refused(tmp_path, good):
    data = bytearray(good.path.read_bytes())
    # Inside the stored photo: the deflate stream stays valid, the checksums catch it.
    data[len(data) // 3] ^= 0x01
    bad = tmp_path / "flipped.tar.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptArchive):
        verify_archive(bad)
    with pytest.raises(CorruptArchive):
        extract_archive(bad, tmp_path / "staging")


def test_a_flipped_byte_anywhere_is_refused(tmp_path):
    """A flip after the gzip header's unchecked fields is refused, unless it changes no content.

    (A few bits of a deflate block's code tables can flip without changing what decodes.)
    """
    text = tmp_path / "rows.jsonl"
    text.write_bytes(b"".join(b'{"id": %d, "t": "camp"}\n' % i for i in range(3000)))
    photo = tmp_path / "p.jpg"
    photo.write_bytes(os.urandom(150_000))
    members = [Member("db/rows.jsonl", text.stat().st_size, text), Member("p.jpg", 150_000, photo)]
    data = write_archive(tmp_path / "a.tar.gz", {"format": "stinkykitty-test"}, members)
    data = data.path.read_bytes()
    bad = tmp_path / "bad.tar.gz"
    # Bytes 4-9 of a gzip header (mtime, flags, OS) are not covered by any checksum.
    for offset in [*range(10, 400, 7), *range(10, len(data), len(data) // 60), len(data) - 3]:
        flipped = bytearray(data)
        flipped[offset] ^= 0x10
        bad.write_bytes(bytes(flipped))
        try:
            verify_archive(bad)
        except CorruptArchive:
            continue
        assert gzip.decompress(bytes(flipped)) == gzip.decompress(data), f"offset {offset}"


def test_checksum_mismatch_is_refused(tmp_path):
    files = [("uploads/1/a.jpg", b"real bytes")]
    manifest = craft.manifest_for([("uploads/1/a.jpg", 10)])
    sums = craft.sums_for([("manifest.json", manifest), ("uploads/1/a.jpg", b"other byte")])
    path = craft.build(
        tmp_path / "x.tar.gz", [("manifest.json", manifest), *files, ("SHA256SUMS", sums)]
    )
    with pytest.raises(CorruptArchive, match=r"checksum mismatch for 'uploads/1/a\.jpg'"):
        verify_archive(path)


def test_missing_manifest_is_refused(tmp_path):
    path = craft.build(tmp_path / "x.tar.gz", [("uploads/1/a.jpg", b"data")])
    with pytest.raises(CorruptArchive, match=r"manifest\.json is missing"):
        verify_archive(path)
    with pytest.raises(CorruptArchive, match=r"manifest\.json is missing"):
        read_manifest(path)


def test_not_a_gzip_file_is_refused(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"this is not an archive at all")
    with pytest.raises(CorruptArchive):
        verify_archive(path)


def test_member_missing_from_archive_is_refused(tmp_path):
    manifest = craft.manifest_for([("uploads/1/a.jpg", 4), ("uploads/1/b.jpg", 4)])
    files = [("uploads/1/a.jpg", b"aaaa")]
    sums = craft.sums_for([("manifest.json", manifest), *files, ("uploads/1/b.jpg", b"bbbb")])
    path = craft.build(
        tmp_path / "x.tar.gz", [("manifest.json", manifest), *files, ("SHA256SUMS", sums)]
    )
    with pytest.raises(CorruptArchive, match=r"1 member\(s\) listed in manifest are missing"):
        verify_archive(path)


def test_newer_format_version_is_refused_clearly(tmp_path):
    manifest = b'{"format": "stinkykitty-system-backup", "format_version": 99, "files": []}'
    path = craft.build(tmp_path / "x.tar.gz", [("manifest.json", manifest)])
    with pytest.raises(CorruptArchive, match="newer than this app reads"):
        read_manifest(path)


# --- hostile archives ---------------------------------------------------------------------

HOSTILE = {
    "dotdot": ([("../evil.txt", b"x")], "refused"),
    "nested dotdot": ([("uploads/../../evil.txt", b"x")], "refused"),
    "absolute": ([("/tmp/evil.txt", b"x")], "absolute"),
    "symlink": ([craft.special("uploads/link", tarfile.SYMTYPE, "/etc")], "symbolic link"),
    "hard link": ([craft.special("uploads/hard", tarfile.LNKTYPE, "manifest.json")], "hard link"),
    "char device": ([craft.special("uploads/null", tarfile.CHRTYPE)], "character device"),
    "block device": ([craft.special("uploads/sda", tarfile.BLKTYPE)], "block device"),
    "fifo": ([craft.special("uploads/fifo", tarfile.FIFOTYPE)], "FIFO"),
    "unlisted member": ([("uploads/1/extra.jpg", b"not in the manifest")], "not listed"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_member_is_refused_and_nothing_lands_outside(tmp_path, case):
    entries, message = HOSTILE[case]
    path = craft.honest(
        tmp_path / "x.tar.gz", [("uploads/1/a.jpg", b"fine")], extra_entries=entries
    )
    target = tmp_path / "box" / "staging"
    target.parent.mkdir()
    with pytest.raises(UnsafeArchive, match=message):
        extract_archive(path, target)
    with pytest.raises(UnsafeArchive):
        verify_archive(path)
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "box" / "evil.txt").exists()
    assert not any(p.is_symlink() for p in target.rglob("*"))


def test_symlink_then_file_through_it_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    entries = [
        craft.special("uploads/escape", tarfile.SYMTYPE, str(outside)),
        ("uploads/escape/pwned.txt", b"x"),
    ]
    path = craft.honest(tmp_path / "x.tar.gz", [("uploads/1/a.jpg", b"ok")], extra_entries=entries)
    with pytest.raises(UnsafeArchive):
        extract_archive(path, tmp_path / "staging")
    assert list(outside.iterdir()) == []


def test_manifest_with_hostile_path_is_refused(tmp_path):
    path = craft.honest(tmp_path / "x.tar.gz", [("../../etc/passwd", b"root")])
    with pytest.raises(UnsafeArchive):
        read_manifest(path)


def test_member_larger_than_listed_is_refused_before_extraction(tmp_path):
    manifest = craft.manifest_for([("uploads/1/a.jpg", 4)])
    big = b"\0" * 5_000_000
    path = craft.build(
        tmp_path / "x.tar.gz", [("manifest.json", manifest), ("uploads/1/a.jpg", big)]
    )
    with pytest.raises(UnsafeArchive, match="manifest says 4"):
        extract_archive(path, tmp_path / "staging")
    assert not (tmp_path / "staging" / "uploads" / "1" / "a.jpg").exists()


def test_size_bomb_is_refused_before_a_byte_is_written(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    size = 300 * 1024 * 1024  # compresses to ~300 KB
    manifest = craft.manifest_for([("uploads/1/zeros.bin", size)])
    with tarfile.open(bomb, "w:gz") as tar:
        tar.addfile(*craft._regular("manifest.json", manifest))
        info = tarfile.TarInfo("uploads/1/zeros.bin")
        info.size = size
        with open("/dev/zero", "rb") as zeros:
            tar.addfile(info, zeros)
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(NotEnoughSpace, match="more than the"):
        extract_archive(bomb, tmp_path / "staging", max_bytes=50 * 1024 * 1024)
    assert list((tmp_path / "staging").iterdir()) == []


def test_duplicate_member_is_refused(tmp_path):
    manifest = craft.manifest_for([("uploads/1/a.jpg", 4)])
    entries = [
        ("manifest.json", manifest),
        ("uploads/1/a.jpg", b"aaaa"),
        ("uploads/1/a.jpg", b"bbbb"),
    ]
    path = craft.build(tmp_path / "x.tar.gz", entries)
    with pytest.raises(UnsafeArchive, match="twice"):
        extract_archive(path, tmp_path / "staging")
