"""The reader is strict and linear; the writer never keeps what its reader would refuse."""

import gzip
import io
import signal
import tarfile

import pytest

import app.archive.digests as digests_module
import app.archive.writer as writer_module
from app.archive import Member, extract_archive, read_manifest, verify_archive, write_archive
from app.archive.errors import ArchiveError, CorruptArchive, UnsafeArchive
from tests import craft


@pytest.fixture
def honest(tmp_path):
    """A valid crafted archive of two files (as tarfile writes one)."""
    return craft.honest(
        tmp_path / "ok.tar.gz", [("uploads/1/a.jpg", b"aaaa"), ("uploads/1/b.jpg", b"bb")]
    )


def tar_bytes(archive):
    return gzip.decompress(archive.read_bytes())


def test_a_second_gzip_member_is_refused(tmp_path, honest):
    verify_archive(honest)
    extra = io.BytesIO()
    with tarfile.open(fileobj=extra, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(*craft._regular("uploads/1/smuggled.jpg", b"evil"))
    bad = tmp_path / "two.tar.gz"
    bad.write_bytes(honest.read_bytes() + gzip.compress(extra.getvalue()))
    with pytest.raises(UnsafeArchive, match="second gzip member"):
        verify_archive(bad)


def test_trailing_garbage_is_refused_and_trailing_zeros_are_not(tmp_path, honest):
    bad = tmp_path / "tail.tar.gz"
    bad.write_bytes(honest.read_bytes() + b"\0\0\0garbage")
    with pytest.raises(UnsafeArchive, match="after the end of the gzip data"):
        verify_archive(bad)
    padded = tmp_path / "padded.tar.gz"
    padded.write_bytes(honest.read_bytes() + bytes(4096))  # as tape blocking leaves it
    assert read_manifest(padded) == verify_archive(padded)


def test_an_entry_after_the_end_of_archive_blocks_is_refused(tmp_path, honest):
    data = tar_bytes(honest)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    end = last.offset_data + -(-last.size // 512) * 512 + 1024  # past the end-of-archive blocks
    info = tarfile.TarInfo("uploads/1/after.jpg")
    info.size = 4
    hidden = info.tobuf(tarfile.USTAR_FORMAT) + b"evil".ljust(512, b"\0")
    bad = tmp_path / "after.tar.gz"
    bad.write_bytes(gzip.compress(data[:end] + hidden + data[end + len(hidden) :]))
    with pytest.raises(UnsafeArchive, match="after the end-of-archive"):
        verify_archive(bad)


def test_an_old_style_regular_entry_named_like_a_folder_is_refused(tmp_path):
    entry = tarfile.TarInfo("uploads/1/")
    entry.type = tarfile.AREGTYPE  # GNU tar reads this as a directory, tarfile too
    path = craft.honest(tmp_path / "x.tar.gz", [("uploads/1/a.jpg", b"ok")], extra_entries=[entry])
    with pytest.raises(UnsafeArchive, match="ends in '/'"):
        verify_archive(path)


def test_a_header_with_a_wrong_checksum_is_refused(tmp_path, honest):
    data = bytearray(tar_bytes(honest))
    at = data.index(b"uploads/1/a.jpg\0")
    data[at] = ord("U")  # the name changes, the header checksum does not
    bad = tmp_path / "sum.tar.gz"
    bad.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(CorruptArchive, match="checksum does not match"):
        verify_archive(bad)


class _HangGuard:
    """Fail (not hang) if the block runs for minutes: the old reader was quadratic here."""

    def __init__(self, seconds):
        self.seconds = seconds

    def _fire(self, *_):
        raise AssertionError(f"still reading after {self.seconds} s: not linear")

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._fire)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)


def test_a_hundred_thousand_members_read_in_one_linear_pass(tmp_path):
    """50,000 files each in its own folder, with 50,000 directory entries before them."""
    count = 50_000
    files = [(f"uploads/{n}/f", b"") for n in range(count)]
    manifest = craft.manifest_for([(name, 0) for name, _ in files])
    sums = craft.sums_for([("manifest.json", manifest), *files])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(*craft._regular("manifest.json", manifest))
        for n in range(count):
            folder = tarfile.TarInfo(f"uploads/{n}")
            folder.type = tarfile.DIRTYPE
            tar.addfile(folder)
        for name, data in files:
            tar.addfile(*craft._regular(name, data))
        tar.addfile(*craft._regular("SHA256SUMS", sums))
    path = tmp_path / "many.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), 1))
    assert path.stat().st_size < 3_000_000  # tiny on disk
    with _HangGuard(120):
        manifest = verify_archive(path)
    assert len(manifest["files"]) == count + 1


def test_the_writer_never_keeps_an_archive_its_reader_refuses(tmp_path, monkeypatch):
    """As when a name broke the checksum list: the file is not renamed into place."""

    real = digests_module.checksum_line

    def broken(name, digest):  # a line feed in a name left as it is: one name, two lines
        return real(name, digest).replace(b"a\\nb", b"a\n-b")  # the size declared still

    monkeypatch.setattr(digests_module, "checksum_line", broken)
    members = [Member("uploads/1/a\nb.jpg", 3, b"abc")]
    with pytest.raises(ArchiveError, match="its own reader refuses it"):
        write_archive(tmp_path / "a.tar.gz", {"format": "stinkykitty-test"}, members)
    assert list(tmp_path.iterdir()) == []


def test_the_writer_reads_back_what_it_wrote(tmp_path, monkeypatch):
    """The read-back parses the file, not the writer's memory."""
    calls = []
    real = writer_module.read_back

    def spy(path, offset, trailer):
        calls.append(path.name)
        return real(path, offset, trailer)

    monkeypatch.setattr(writer_module, "read_back", spy)
    result = write_archive(
        tmp_path / "a.tar.gz", {"format": "stinkykitty-test"}, [Member("x", 1, b"x")]
    )
    assert len(calls) == 1
    assert calls[0].startswith(".a.tar.gz.tmp-")
    assert verify_archive(result.path)["format_version"] == 2
    extract_archive(result.path, tmp_path / "out")
    assert (tmp_path / "out" / "x").read_bytes() == b"x"
