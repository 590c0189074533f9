"""Uploads racing a one-site restore or import: no row without its file, no file lost.

An upload writes its file, then commits its row; a load of the site (restore
from a backup, import of an export) deletes the site's rows, writes its own,
commits, then removes files. The loader removes only the files of the rows it
replaced, so whatever the interleaving, every media row has its file with its
bytes, and a file the loader did not replace stays.

The interleavings are forced by hooks: the upload's steps run at chosen points
of the load (before it, inside its transaction, after its commit before it
removes files, after it), never by sleeping.
"""

import io
import itertools
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.archive import extract_archive
from app.backup.restore.site import restore_site
from app.backup.system import create_backup
from app.coordination.trash import trash_dir
from app.exports.export import export_site
from app.exports.exportformat import read_export_rows
from app.exports.siteimport import import_site
from app.extensions import db
from app.media import add_media, delete_media, uploads_dir
from app.models import MediaItem, Site
from app.sitedata.loader import load_site
from tests.processes import clean_env
from tests.sitekit import build_camp, snapshot

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parent / "fixtures" / "site-export-v1.tar.gz"
BEFORE, INSIDE, COMMITTED, AFTER = range(4)  # points of the load an upload's steps run at


class Upload:
    """One upload, step by step: its file (``app.media.add_media``), then its row on its own."""

    def __init__(self, config, site_id, content, name="upload.bin"):
        self.config, self.site_id, self.content, self.name = config, site_id, content, name
        self.item = self.id = self.path = self.stored_name = None

    def write_file(self):
        """Write the file as an upload does, before its row commits."""
        site = db.session.get(Site, self.site_id)
        self.item = add_media(site, io.BytesIO(self.content), self.name)
        db.session.expunge(self.item)  # the row goes in with commit_row, in a session of its own
        db.session.rollback()
        self.stored_name = self.item.stored_name
        self.path = uploads_dir(self.config) / str(self.site_id) / self.stored_name

    def commit_row(self, engine):
        """Insert and commit the row (may wait for the loader's locks: run it in a thread then)."""
        with Session(engine) as session:
            session.add(self.item)
            session.commit()
            self.id = self.item.id

    def delete(self):
        """Delete the row the way the app does: its file goes to the trash after the commit."""
        delete_media(db.session.get(MediaItem, self.id))
        db.session.commit()


def _media_rows(site_id):
    db.session.remove()
    query = sa.select(MediaItem.stored_name, MediaItem.size).where(MediaItem.site_id == site_id)
    return dict(db.session.execute(query).all())


def _folder(config, site_id):
    """Return {name: bytes} of every entry of the site's folder, dot files included."""
    folder = uploads_dir(config) / str(site_id)
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}


def _export_staging(config, site_id, dest):
    """Export the site; return it and ``rows()``, its rows for the loader, unpacked anew each time.

    Anew: the loader links the files it places to the unpacked ones, and a file
    must not share its inode with one a previous load placed (and that went to the trash).
    """
    archive = export_site(config, site_id, dest=dest / "site.tar.gz").path
    unpacked = itertools.count()

    def rows():
        folder = dest / f"x{next(unpacked)}"
        return read_export_rows(folder, extract_archive(archive, folder))

    return archive, rows


def _source_bytes(rows):
    return {m["stored_name"]: m["source"].read_bytes() for m in rows["media"]}


@pytest.mark.parametrize("path", ["restore", "import"])
def test_an_upload_whose_row_commits_after_the_load_keeps_its_file(any_app, make, tmp_path, path):
    config = any_app.config
    site_id = build_camp(make, "lakeside").id
    other_id = build_camp(make, "pinecrest").id
    backup = create_backup(config, db.engine)
    archive, rows = _export_staging(config, site_id, tmp_path)
    replaced = make.media(db.session.get(Site, site_id), content=b"replaced by the load")
    replaced_path = uploads_dir(config) / replaced.relative_path
    others = snapshot(config, [other_id])
    upload = Upload(config, site_id, b"\x00racing upload\xff")
    upload.write_file()
    seen = []

    def before_commit():
        seen.append(("before commit", upload.path.read_bytes()))

    def after_commit():
        seen.append(("after commit", upload.path.read_bytes()))

    db.session.remove()
    if path == "restore":

        def load(rows, live_id):
            hooks = {"before_commit": before_commit, "after_commit": after_commit}
            summary = load_site(
                config, db.engine, rows, replace_site_id=live_id, keep_ids=True, **hooks
            )
            return summary.to_dict()

        restore_site(config, db.engine, backup.backup_id, "lakeside", load=load)
    else:
        import_site(
            config, db.engine, archive, replace_site_id=site_id, before_commit=before_commit
        )
    upload.commit_row(db.engine)  # the upload's row commits after the load

    # The upload's file was there all along, and is there after: no one's to remove.
    assert (
        seen == [("before commit", upload.content), ("after commit", upload.content)][: len(seen)]
    )
    assert len(seen) == (2 if path == "restore" else 1)
    assert not replaced_path.exists()  # the row the load replaced took its file along
    expected = {**_source_bytes(rows()), upload.stored_name: upload.content}
    assert _folder(config, site_id) == expected
    assert _media_rows(site_id) == {name: len(content) for name, content in expected.items()}
    assert snapshot(config, [other_id]) == others


def test_an_upload_whose_row_is_written_before_the_load_and_commits_during_it_stays_whole(
    any_app, make, tmp_path
):
    """The other direction: the row is in (not committed) when the load begins.

    SQLite and MariaDB make the load wait for the upload (its write lock, the
    site row's lock of the foreign key): the load then replaces the row and
    removes its file. PostgreSQL does not (the foreign key's lock lets the
    load's update of the site row by): the load does not see the row, and the
    upload lands in the loaded site with its file. Either way, whole.
    """
    config = any_app.config
    site_id = build_camp(make, "lakeside").id
    _archive, rows = _export_staging(config, site_id, tmp_path)
    data = rows()
    upload = Upload(config, site_id, b"row in before the load, committed during it")
    upload.write_file()
    session = Session(db.engine)
    session.add(upload.item)
    session.flush()  # the row is written, its transaction open
    engine, waits = db.engine, db.engine.dialect.name != "postgresql"

    def load():
        with any_app.app_context():
            load_site(config, engine, data, replace_site_id=site_id)

    loader = threading.Thread(target=load)
    loader.start()
    if not waits:
        loader.join()  # the load is done before the upload commits
    session.commit()
    session.close()
    loader.join()

    kept = {upload.stored_name: upload.content} if not waits else {}
    expected = {**_source_bytes(data), **kept}
    assert _folder(config, site_id) == expected
    assert _media_rows(site_id) == {name: len(content) for name, content in expected.items()}


NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
SUFFIXES = st.sampled_from(["", ".jpg", ".JPG", ".tar.gz", "..", ".a\u00e9", "." + "x" * 12])


@st.composite
def races(draw):
    """Uploads with the points of the load their file, row and deletion come at; hostile bytes.

    A row committed before the load is the load's to replace, so it is deleted
    (if at all) before the load; a row committed later may be deleted once the
    load has committed. Deletions inside the load's transaction would only wait for it.
    """
    uploads = []
    for _ in range(draw(st.integers(0, 5))):
        file_at = draw(st.sampled_from([BEFORE, INSIDE, COMMITTED, AFTER]))
        row_at = draw(
            st.sampled_from([p for p in (BEFORE, INSIDE, COMMITTED, AFTER) if p >= file_at])
        )
        deletable = [BEFORE] if row_at == BEFORE else [p for p in (COMMITTED, AFTER) if p >= row_at]
        delete_at = draw(st.none() | st.sampled_from(deletable))
        content = draw(st.binary(max_size=300))
        name = (draw(NAMES) + draw(SUFFIXES)) or "x"
        uploads.append((file_at, row_at, delete_at, content, name))
    return uploads, draw(st.sampled_from(["restore", "import"])), draw(st.booleans())


@pytest.fixture
def camp(any_app, make, tmp_path):
    """Two camps, a backup of both and an export of the first one (what each load writes)."""
    site_id = build_camp(make, "lakeside").id
    other_id = build_camp(make, "pinecrest").id
    backup = create_backup(any_app.config, db.engine)
    _archive, rows = _export_staging(any_app.config, site_id, tmp_path)
    return site_id, other_id, backup.backup_id, rows


class Race:
    """Runs each upload's steps when the load reaches their point; rows inside it in threads."""

    def __init__(self, config, site_id, schedule):
        self.engine = db.engine
        self.steps = [
            (Upload(config, site_id, content, name), file_at, row_at, delete_at)
            for file_at, row_at, delete_at, content, name in schedule
        ]
        self.threads, self.errors = [], []

    def at(self, point):
        if point == COMMITTED:  # rows that waited for the load's locks are in by now
            for thread in self.threads:
                thread.join()
            assert self.errors == []
        for upload, file_at, _row_at, _delete_at in self.steps:
            if file_at == point:
                upload.write_file()
        for upload, _file_at, row_at, _delete_at in self.steps:
            if row_at == point == INSIDE:
                thread = threading.Thread(target=self._commit_row, args=(upload,))
                thread.start()
                self.threads.append(thread)
            elif row_at == point:
                upload.commit_row(self.engine)
        for upload, _file_at, _row_at, delete_at in self.steps:
            if delete_at == point:
                upload.delete()

    def _commit_row(self, upload):
        try:
            upload.commit_row(self.engine)
        except BaseException as exc:  # reported by the main thread
            self.errors.append(exc)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(race=races())
def test_uploads_and_deletions_around_a_load_never_lose_a_file_nor_leave_a_row_without_one(
    any_app, camp, race
):
    config = any_app.config
    site_id, other_id, backup_id, rows = camp
    schedule, via, delete_old = race
    others = snapshot(config, [other_id])
    trashed = {}
    if delete_old:  # an owner deletes a media item just before the load
        old = db.session.scalars(sa.select(MediaItem).where(MediaItem.site_id == site_id)).first()
        trashed[old.stored_name] = (uploads_dir(config) / old.relative_path).read_bytes()
        delete_media(old)
        db.session.commit()
    race_ = Race(config, site_id, schedule)
    race_.at(BEFORE)
    db.session.remove()
    hooks = {"before_commit": lambda: race_.at(INSIDE), "after_commit": lambda: race_.at(COMMITTED)}
    written = {}

    def load(data, live_id):
        written.update(_source_bytes(data))
        keep_ids = via == "restore"
        summary = load_site(
            config, db.engine, data, replace_site_id=live_id, keep_ids=keep_ids, **hooks
        )
        return summary.to_dict()

    if via == "restore":  # flask backup restore ID --site lakeside
        restore_site(config, db.engine, backup_id, "lakeside", load=load)
    else:  # flask site import EXPORT --replace lakeside
        load(rows(), site_id)
    race_.at(AFTER)

    kept = {}
    for upload, _file_at, row_at, delete_at in race_.steps:
        if delete_at is not None:
            trashed[upload.stored_name] = upload.content
        elif row_at != BEFORE:  # a row the load did not replace keeps its file
            kept[upload.stored_name] = upload.content
    expected = {**written, **kept}
    assert _folder(config, site_id) == expected  # nothing else: what the load replaced is gone
    assert _media_rows(site_id) == {name: len(content) for name, content in expected.items()}
    for name, content in trashed.items():
        assert (trash_dir(config) / str(site_id) / name).read_bytes() == content
    assert snapshot(config, [other_id]) == others


KILLED_LOAD = """
import os, signal, sys
from app import create_app
from app.extensions import db
from app.exports.siteimport import import_site
app = create_app()
with app.app_context():
    import_site(app.config, db.engine, sys.argv[1], replace_site_id=int(sys.argv[2]),
                before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_the_load_after_a_killed_one_removes_what_that_one_placed_and_nothing_else(any_app, make):
    config = any_app.config
    site_id = build_camp(make, "lakeside").id
    env = clean_env(
        STINKY_DATA_DIR=config["STINKY_DATA_DIR"],
        SECRET_KEY="test-secret",
        DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
    )
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_LOAD, str(GOLDEN), str(site_id)], env=env, capture_output=True
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    journals = [name for name in _folder(config, site_id) if name.startswith(".~load-")]
    assert len(journals) == 1  # the files it placed are listed there
    before = _media_rows(site_id)
    left = set(_folder(config, site_id)) - set(before) - set(journals)
    assert left  # the killed load's files: no row names them
    upload = Upload(config, site_id, b"written before the next load, committed after it")
    upload.write_file()

    db.session.remove()
    import_site(config, db.engine, GOLDEN, replace_site_id=site_id)
    upload.commit_row(db.engine)

    rows = _media_rows(site_id)
    assert set(_folder(config, site_id)) == set(rows)  # the leftovers and the journal are gone
    assert upload.path.read_bytes() == upload.content
    assert rows[upload.stored_name] == len(upload.content)
