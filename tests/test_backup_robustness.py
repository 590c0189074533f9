"""Backups survive what happens to real machines: a second run, a kill, a full disk."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.backup import dumpahead
from app.backup.catalog import backups_dir
from app.backup.errors import BackupLocked, NotEnoughSpace
from app.backup.system import create_backup, list_backups, verify_backup
from app.coordination.lock import lock_holder
from app.extensions import db
from tests.backupkit import leftovers
from tests.processes import clean_env, small_filesystem

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def _env(app):
    return clean_env(
        STINKY_DATA_DIR=app.config["STINKY_DATA_DIR"],
        SECRET_KEY="test-secret",
        BACKUP_KEY="test-backup-key",
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
    )


def test_a_second_backup_is_refused_while_one_runs(app, make):
    make.site()
    in_progress, release, results = threading.Event(), threading.Event(), []
    engine = db.engine

    def slow(phase, done, total):
        if phase == "write" and not in_progress.is_set():
            in_progress.set()
            assert release.wait(30)

    def run():
        results.append(create_backup(app.config, engine, progress=slow))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert in_progress.wait(30)
        holder = lock_holder(app.config)
        assert holder["operation"] == "backup"
        with pytest.raises(BackupLocked) as refused:
            create_backup(app.config, db.engine)
        assert f"a backup is running (pid {os.getpid()} on {socket.gethostname()}, since" in str(
            refused.value
        )
    finally:
        release.set()
        thread.join()
    assert results[0].created
    assert len(list_backups(app.config)) == 1


def test_a_lock_held_by_a_killed_process_is_free_again(app, make):
    code = (
        "import sys\n"
        "from app.coordination.lock import backup_lock\n"
        "with backup_lock({'STINKY_DATA_DIR': sys.argv[1]}, 'restore'):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, app.config["STINKY_DATA_DIR"]],
        cwd=ROOT,
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BackupLocked, match=rf"a restore is running \(pid {holder.pid} "):
            create_backup(app.config, db.engine)
    finally:
        holder.kill()
        holder.wait()
    assert create_backup(app.config, db.engine).created


def test_a_backup_killed_mid_write_leaves_no_final_file_and_the_next_one_cleans_up(app, make):
    site = make.site()
    older = create_backup(app.config, db.engine, skip_unchanged=False)
    # Enough media (stored, not deflated) that writing takes a while.
    for n in range(16):
        make.media(site, content=os.urandom(4_000_000), name=f"big-{n}.jpg")
    folder = backups_dir(app.config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "backup", "create", "--force"],
        cwd=Path(app.config["STINKY_DATA_DIR"]).parent,  # not the checkout: its .env is not read
        env=_env(app),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    partial = None
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        temps = [
            p
            for p in folder.glob(".stinkykitty-*.tar.gz.tmp-*")
            if not p.name.endswith("-text") and _size(p) > 0
        ]
        if temps:
            os.kill(proc.pid, signal.SIGKILL)
            partial = temps[0]
            break
        time.sleep(0.0005)
    proc.wait()
    assert partial is not None, f"never saw the archive being written: {proc.stderr.read()}"
    assert proc.returncode == -signal.SIGKILL
    index = f"{older.backup_id}.sites.json"  # the older backup's site index, beside it
    assert sorted(p.name for p in folder.glob("stinkykitty-*")) == sorted([older.path.name, index])
    assert partial.exists()
    assert partial.stat().st_size < 64_000_000
    verify_backup(app.config, older.backup_id)

    after = create_backup(app.config, db.engine)
    assert after.created
    verify_backup(app.config, after.backup_id)
    assert leftovers(app.config) == []
    assert {i.backup_id for i in list_backups(app.config)} == {older.backup_id, after.backup_id}


def _size(path):
    try:
        return path.stat().st_size
    except FileNotFoundError:  # the writer's short-lived spool file
        return 0


@pytest.fixture
def tiny_backups_fs(app):
    """The backups folder on a real 4 MB tmpfs, so the disk really fills up."""
    with small_filesystem(backups_dir(app.config), "4m") as folder:
        yield folder


def test_not_enough_space_is_refused_before_writing(app, make, tiny_backups_fs):
    site = make.site()
    older = create_backup(app.config, db.engine)
    make.media(site, content=os.urandom(6 * 1024 * 1024), name="video.mp4")
    with pytest.raises(NotEnoughSpace, match=r"needs about 6\.\d MiB, \d\.\d MiB free on "):
        create_backup(app.config, db.engine)
    assert [i.backup_id for i in list_backups(app.config)] == [older.backup_id]
    assert leftovers(app.config) == []


def test_disk_full_while_writing_fails_cleanly(app, make, tiny_backups_fs, monkeypatch):
    site = make.site()
    older = create_backup(app.config, db.engine)
    big = make.media(site, content=os.urandom(6_000_000), name="video.mp4")
    monkeypatch.setattr(dumpahead, "check_space", lambda *args: None)  # estimate says fine
    with pytest.raises(NotEnoughSpace, match="disk full"):
        create_backup(app.config, db.engine)
    assert sorted(p.name for p in tiny_backups_fs.iterdir()) == [
        ".still-current.json",
        f"{older.backup_id}.sites.json",
        older.path.name,
    ]
    verify_backup(app.config, older.backup_id)
    assert leftovers(app.config) == []

    from app.media import delete_media

    delete_media(big)
    db.session.commit()
    create_backup(app.config, db.engine)  # room again: works
