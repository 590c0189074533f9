"""Backups taken while a site adds and deletes media hold the file of every media row they hold."""

import json
import subprocess
import sys
import time

from app import get_celery
from app.archive import extract_archive
from app.backup.errors import BackupLocked
from app.backup.system import create_backup, restore_backup
from app.coordination.trash import sweep_trash, trash_dir
from app.extensions import db
from app.media import delete_media, uploads_dir
from app.models import MediaItem
from tests.processes import ROOT, clean_env, stop_group

BACKUPS = 10


def _start_writer(app, tmp_path):
    env = clean_env(
        STINKY_DATA_DIR=app.config["STINKY_DATA_DIR"],
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=app.config["SECRET_KEY"],
        BACKUP_KEY=app.config["BACKUP_KEY"],
    )
    log = open(tmp_path / "writer.log", "wb")  # noqa: SIM115  (closed by the caller)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.media_writer"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    assert proc.stdout.readline().strip() == b"ready", (tmp_path / "writer.log").read_text()
    return proc, log


def _newest_media_id():
    with db.engine.connect() as conn:
        return conn.scalar(db.select(db.func.max(MediaItem.id)))


def _backup(app, after_id):
    """Make a backup once the writer has added a few items since ``after_id``."""
    deadline = time.monotonic() + 60
    while _newest_media_id() < after_id + 5:
        assert time.monotonic() < deadline, "the writer does not write"
        time.sleep(0.005)
    while True:
        try:
            return create_backup(app.config, db.engine, skip_unchanged=False)
        except BackupLocked:  # the writer's trash sweep holds the lock for a moment
            time.sleep(0.01)


def _rows_without_file(archive, dest):
    """Return the media rows of ``archive``'s dump whose file is not in it (or has another size)."""
    manifest = extract_archive(archive, dest)
    dump = next(t["path"] for t in manifest["tables"] if t["name"] == "media_items")
    rows = [json.loads(line) for line in (dest / dump).read_text().splitlines()]
    lacking = []
    for row in rows:
        path = dest / "uploads" / str(row["site_id"]) / row["stored_name"]
        if not path.is_file() or path.stat().st_size != row["size"]:
            lacking.append(row["stored_name"])
    return rows, lacking


def test_every_backup_taken_during_uploads_and_deletions_holds_every_rows_file(
    any_app, make, tmp_path
):
    app = any_app
    site = make.site()
    for n in range(10):
        make.media(site, content=bytes([n]) * 700, name=f"seed-{n}.bin")
    db.session.remove()
    writer, log = _start_writer(app, tmp_path)
    try:
        outcomes = [_backup(app, _newest_media_id()) for _ in range(BACKUPS)]
    finally:
        stop_group(writer)
        log.close()
    churned = set()
    for n, outcome in enumerate(outcomes):
        rows, lacking = _rows_without_file(outcome.path, tmp_path / f"x{n}")
        assert rows
        assert lacking == [], f"backup {n}: {len(lacking)} of {len(rows)} rows lack their file"
        churned.update(r["stored_name"] for r in rows)
    assert len(churned) > 20, "the writer changed too little to test anything"

    # The newest backup restores, and every restored row has its file.
    restore_backup(app.config, db.engine, outcomes[-1].backup_id)
    db.session.remove()
    items = db.session.scalars(db.select(MediaItem)).all()
    assert items
    for item in items:
        path = uploads_dir(app.config) / str(item.site_id) / item.stored_name
        assert path.stat().st_size == item.size


def test_a_deleted_file_goes_to_the_trash_only_when_the_deletion_commits(app, make):
    site = make.site()
    kept, gone = make.media(site, content=b"kept"), make.media(site, content=b"gone")
    kept_path = uploads_dir(app.config) / kept.relative_path
    gone_path = uploads_dir(app.config) / gone.relative_path
    delete_media(kept)
    assert kept_path.read_bytes() == b"kept"  # not before the commit
    db.session.rollback()
    assert kept_path.read_bytes() == b"kept"  # and not at all when rolled back

    delete_media(db.session.get(MediaItem, gone.id))
    assert gone_path.read_bytes() == b"gone"
    db.session.commit()
    assert not gone_path.exists()
    trashed = trash_dir(app.config) / gone.relative_path
    assert trashed.read_bytes() == b"gone"
    assert db.session.get(MediaItem, kept.id) is not None


def test_the_sweep_waits_for_the_grace_period_and_never_runs_during_a_backup(app, make):
    from app.coordination.lock import backup_lock

    site = make.site()
    item = make.media(site, content=b"old")
    relpath = item.relative_path
    delete_media(item)
    db.session.commit()
    trashed = trash_dir(app.config) / relpath
    assert sweep_trash(app.config, grace=3600) == 0
    assert trashed.exists()
    with backup_lock(app.config, "backup"):
        assert sweep_trash(app.config, grace=0) is None
        assert trashed.exists()
    assert sweep_trash(app.config, grace=0) == 1
    assert not trashed.exists()


def test_beat_sweeps_the_media_trash(app):
    import celeryconfig

    entry = celeryconfig.beat_schedule(app.config)["sweep-media-trash"]
    assert entry["task"] == "stinkykitty.sweep_media_trash"
    assert entry["task"] in get_celery(app).tasks
