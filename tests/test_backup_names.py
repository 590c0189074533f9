"""A backup called good restores, whatever the names of the media files."""

import os

import pytest

from app.backup.catalog import list_backups
from app.backup.errors import BackupError
from app.backup.system import create_backup, restore_backup, verify_backup
from app.extensions import db
from app.media import uploads_dir
from tests.backupkit import full_state

NAMES = [
    b"line\nbreak.jpg",
    b"carriage\rreturn.png",
    b"both\r\n.txt",
    b"back\\slash\\n.pdf",
    b"\\leading-backslash",
    "unicode\u2028line\u2029separators\x85.jpg".encode(),
    b"not-utf8-\xff\xfe.bin",
    b".hidden-but-not-an-upload",
    b"x" * 255,
    "é".encode() * 127,  # 254 bytes
]


def test_every_name_linux_allows_is_backed_up_verified_and_restored(app, make):
    site = make.site()
    (uploads_dir(app.config) / str(site.id)).mkdir(parents=True, exist_ok=True)
    folder = os.fsencode(uploads_dir(app.config) / str(site.id))
    for n, name in enumerate(NAMES):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(b"content %d" % n)
    before = full_state(app.config)
    assert len(before[1]) == len(NAMES)

    outcome = create_backup(app.config, db.engine)
    assert outcome.files == len(NAMES)
    assert [info.ok for info in list_backups(app.config)] == [True]
    verify_backup(app.config, outcome.backup_id)

    for name in NAMES[:3]:
        os.unlink(os.path.join(folder, name))
    restore_backup(app.config, db.engine, outcome.backup_id)
    assert full_state(app.config) == before


def test_a_name_that_cannot_be_stored_fails_the_backup_naming_it(app, make):
    """A folder nested deeper than a path can name (PATH_MAX) cannot be listed, let alone stored."""
    site = make.site()
    (uploads_dir(app.config) / str(site.id)).mkdir(parents=True, exist_ok=True)
    fd = os.open(uploads_dir(app.config) / str(site.id), os.O_RDONLY)
    try:
        for _ in range(17):  # 17 x 251 bytes > 4096
            os.mkdir(b"d" * 250, dir_fd=fd)
            inner = os.open(b"d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open(b"deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(b"far down")
    finally:
        os.close(fd)
    with pytest.raises(BackupError, match=r"cannot back up b'.*ddddd"):
        create_backup(app.config, db.engine)
    assert list_backups(app.config) == []
