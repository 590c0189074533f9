"""What a backup holds a restore can create: paths of any depth, walked and made without recursion.

A media folder nested deeper than Python's recursion limit once made a backup
that verified and then could not be restored (and deeper still, a backup that
failed with "unexpected error"). Now a backup either holds a file and a
restore puts it back, or refuses at once, naming the path.
"""

import os
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.archive import Member, extract_archive, verify_archive, write_archive
from app.archive.names import MAX_NAME_BYTES
from app.archive.trees import FileMaker, remove_tree
from app.backup.errors import BackupError
from app.backup.mediasnap import MEMBER_PREFIX, snapshot_media
from app.backup.system import create_backup, restore_backup
from app.extensions import db
from app.media import uploads_dir
from tests.backupkit import leftovers

MiB = 1024 * 1024


@pytest.fixture
def data_dir(app):
    """The app's data dir, removed after the test (pytest's own cleanup recurses per level)."""
    folder = Path(app.config["STINKY_DATA_DIR"])
    yield folder
    remove_tree(folder)


def plant(root, relpath, data):
    """Create the file ``root/relpath`` however deep, one folder at a time."""
    Path(root).mkdir(parents=True, exist_ok=True)
    with FileMaker(root, "disk full") as maker, maker.open_new(relpath) as out:
        out.write(data)


def read_deep(root, relpath):
    """Return the bytes of ``root/relpath``, opening one folder at a time (any depth)."""
    parts = relpath.split("/")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        with os.fdopen(os.open(parts[-1], os.O_RDONLY, dir_fd=fd), "rb") as source:
            return source.read()
    finally:
        os.close(fd)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    depth=st.one_of(st.integers(1, 40), st.sampled_from([1016, 1400, 2036, 2041, 2100])),
    width=st.sampled_from([1, 2, 7]),
)
def test_a_backed_up_path_of_any_depth_restores_or_the_backup_names_it(tmp_path, depth, width):
    """Walk, archive, extract into a folder with a long path, remove: no recursion anywhere."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    try:
        check_depth(work, depth, width)
    finally:
        remove_tree(work)


def check_depth(work, depth, width):
    uploads, links = work / "uploads", work / ".links"
    relpath = "1/" + "/".join(["d" * width] * depth) + "/f.jpg"
    member = MEMBER_PREFIX + relpath
    plant(uploads, relpath, b"deep bytes")
    fits = len(member) <= MAX_NAME_BYTES and len(f"{uploads}/{relpath}") < 4096
    media, refused = None, None
    tracemalloc.start()
    try:
        media = snapshot_media(uploads, links)
    except BackupError as exc:
        refused = str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 4 * MiB
    if refused is not None:
        assert not fits, refused
        assert refused.startswith("cannot back up b'")
        assert "\n" not in refused
        return
    assert fits
    assert [(f.relpath, f.size) for f in media] == [(relpath, 10)]
    archive = write_archive(
        work / "b.tar.gz",
        {"format": "stinkykitty-test"},
        [Member(MEMBER_PREFIX + f.relpath, f.size, f.source) for f in media],
    ).path
    assert verify_archive(archive)["files"][0]["path"] == member
    staging = work / ("s" * 250) / ("t" * 250) / "staging"  # longer than where it came from
    staging.parent.mkdir(parents=True)
    extract_archive(archive, staging)
    assert read_deep(staging, member) == b"deep bytes"
    remove_tree(staging)
    assert not staging.exists()


def test_a_media_folder_deeper_than_the_recursion_limit_backs_up_and_restores(app, make, data_dir):
    """As in the report: a folder 1,100 levels below uploads/, backed up, verified, restored."""
    site = make.site()
    relpath = f"{site.id}/" + "/".join(["d"] * 1100) + "/kept.bin"
    plant(uploads_dir(app.config), relpath, b"\x00deep\xff")
    outcome = create_backup(app.config, db.engine)
    assert (MEMBER_PREFIX + relpath) in {f["path"] for f in verify_archive(outcome.path)["files"]}
    remove_tree(uploads_dir(app.config) / str(site.id) / "d")
    restore_backup(app.config, db.engine, outcome.backup_id)
    assert read_deep(uploads_dir(app.config), relpath) == b"\x00deep\xff"
    assert leftovers(app.config) == [], "no staging or media folder left behind"


def test_a_media_folder_too_deep_for_an_archive_is_refused_by_name(app, make, data_dir):
    site = make.site()
    relpath = f"{site.id}/" + "/".join(["d"] * 2100) + "/lost.bin"
    plant(uploads_dir(app.config), relpath, b"x")
    with pytest.raises(BackupError) as refused:
        create_backup(app.config, db.engine)
    message = str(refused.value)
    assert message.startswith("cannot back up b'")
    assert f"/uploads/{site.id}/d/d/d/" in message
    assert "nothing was kept" in message  # too deep for an archive, or to open here at all
    assert "\n" not in message
    assert list((data_dir / "backups" / "system").glob("*")) == []
