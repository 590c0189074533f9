"""Any file name Linux allows goes into an archive, is checksummed and comes back byte-exact."""

import os
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.archive import Member, extract_archive, verify_archive, write_archive
from app.backup.mediasnap import is_partial_upload, snapshot_media

# Pieces that broke names before, mixed with anything else a name may hold.
AWKWARD = [
    b"\n", b"\r", b"\r\n", b"\\", b"\\n", b"\xff", b"\xc3", b"\xe2\x80\xa8", b"\xc2\x85",
    b"\x0b", b"\x0c", b"\x1c", b"\t", b" ", b"  ", b"*", b".", b"..", b"-", "☃".encode(),
    b"manifest.json", b"SHA256SUMS", b"a",
]  # fmt: skip


def _is_valid(name):
    return (
        b"/" not in name
        and b"\0" not in name
        and name not in (b".", b"..")
        and 0 < len(name) <= 255
        and not is_partial_upload(os.fsdecode(name))
    )


names = st.one_of(
    st.lists(st.sampled_from(AWKWARD), min_size=1, max_size=8).map(b"".join),
    st.binary(min_size=1, max_size=255),
    st.integers(250, 255).map(lambda n: b"\xff" * n),  # the longest names, not UTF-8 either
).filter(_is_valid)


def _files_under(root):
    """Return {relative path as bytes: content} of every file under ``root``."""
    root = os.fsencode(root)
    found = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=1, max_size=5, unique=True))
def test_any_name_round_trips_and_sha256sum_checks_it(file_names):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        uploads = scratch / "uploads"
        (uploads / "7").mkdir(parents=True)
        written = {}
        for n, name in enumerate(file_names):
            path = os.path.join(os.fsencode(uploads / "7"), name)
            with open(path, "wb") as f:
                f.write(name + b"%d" % n)
            written[b"uploads/7/" + name] = name + b"%d" % n
        (scratch / "links").mkdir()
        media = snapshot_media(uploads, scratch / "links")
        assert len(media) == len(file_names)  # none left out
        members = [Member(f"uploads/{m.relpath}", m.size, m.source) for m in media]
        archive = write_archive(scratch / "a.tar.gz", {"format": "stinkykitty-test"}, members)

        verify_archive(archive.path)
        extract_archive(archive.path, scratch / "out")
        restored = _files_under(scratch / "out")
        del restored[b"SHA256SUMS"]
        assert restored == written

        # GNU tar and sha256sum read the same names and check every one of them.
        gnu = scratch / "gnu"
        gnu.mkdir()
        # (GNU tar notes that it ignores "hdrcharset": it takes names as raw bytes anyway.)
        subprocess.run(["tar", "xzf", archive.path, "-C", gnu], check=True, capture_output=True)
        check = subprocess.run(
            ["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=gnu, capture_output=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.count(b": OK\n") == len(file_names) + 1
        gnu_files = _files_under(gnu)
        del gnu_files[b"SHA256SUMS"], gnu_files[b"manifest.json"]
        assert gnu_files == written
