"""Undo is exact: a restore saves the site as it replaces it; undo brings every row and file back.

On SQLite, MariaDB and PostgreSQL: the saved state is taken under the lock, in
the restore's own transaction, so edits made while the job waited are in it;
the undo is this server's own file and is not held to the upload limits; and
an export carries what a round trip needs (previews included).
"""

import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.archive import read_manifest
from app.exports import restorejobs
from app.exports.export import export_site, exports_dir
from app.exports.siteimport import import_site
from app.extensions import db
from app.models import Block, MediaItem, Page, Site
from app.sitedata import loader
from tests.sitekit import all_site_ids, snapshot
from tests.support.states import camp_site, edit_site, other_sites_state
from tests.support.waiting import wait_for
from tests.undokit import exact_site, hooked_guard, queue_restore, run, undo

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.integration
def test_a_sites_own_export_round_trips_with_its_previews(any_app, make, tmp_path):
    config = any_app.config
    site_id, _owner = camp_site(make)

    def media():
        db.session.remove()
        return sorted(
            (m.stored_name, m.preview, m.original_name, m.size, m.mime_type, m.created_at)
            for m in db.session.scalars(sa.select(MediaItem).where(MediaItem.site_id == site_id))
        )

    before = media()
    assert any(preview for _name, preview, *_ in before)
    archive = export_site(config, site_id, dest=tmp_path / "own.tar.gz")
    db.session.remove()
    import_site(config, db.engine, archive.path, replace_site_id=site_id)
    assert media() == before


@pytest.mark.integration
def test_the_golden_export_of_each_format_version_imports_with_what_it_carries(any_app, make):
    owner = make.user(email="owner@golden.example").email
    for version, subdomain in ((1, "from-v1"), (2, "from-v2")):
        archive = FIXTURES / f"site-export-v{version}.tar.gz"
        assert read_manifest(archive)["export_format_version"] == version
        db.session.remove()
        summary = import_site(
            any_app.config, db.engine, archive, subdomain=subdomain, owner_email=owner
        )
        db.session.remove()
        previews = {
            m.original_name: m.preview
            for m in db.session.scalars(
                sa.select(MediaItem).where(MediaItem.site_id == summary.site_id)
            )
        }
        if version == 1:
            assert set(previews.values()) == {None}  # version 1 carried none
        else:
            assert previews == {"photo.jpg": bytes(range(256)), "map.pdf": None}


@pytest.mark.integration
def test_undo_is_exact_for_a_site_larger_than_an_upload_may_be(any_app, make, tmp_path):
    config = any_app.config
    site_id, owner_id = camp_site(make)
    small = export_site(config, site_id, dest=tmp_path / "small.tar.gz")
    site = db.session.get(Site, site_id)
    make.media(site, content=os.urandom(64 * 1024), name="big.jpg", preview=b"big")
    edit_site(make, site_id, "before")
    unpacked = sum(f["size"] for f in read_manifest(small.path)["files"])
    config["SITE_IMPORT_MAX_BYTES"] = unpacked + 4096  # the site itself no longer fits
    before = exact_site(config, site_id)
    others = other_sites_state(config, site_id)

    job_id = queue_restore(config, site_id, owner_id, small.path.read_bytes())
    assert run(config, job_id) == "done"
    assert exact_site(config, site_id) != before
    undo_id = undo(config, job_id, site_id, owner_id)
    assert run(config, undo_id) == "done", restorejobs.read_job(config, undo_id)["error"]
    assert exact_site(config, site_id) == before  # every row, id and file, previews too
    assert other_sites_state(config, site_id) == others


@pytest.mark.integration
def test_edits_made_while_the_restore_waits_are_in_its_undo(any_app, make, tmp_path):
    config = any_app.config
    site_id, owner_id = camp_site(make)
    saved = export_site(config, site_id, dest=tmp_path / "saved.tar.gz")
    job_id = queue_restore(config, site_id, owner_id, saved.path.read_bytes())
    others = other_sites_state(config, site_id)

    seen = {}

    def inside():
        edit_site(make, site_id, "inside")
        seen["replaced"] = exact_site(config, site_id)
        running = restorejobs.read_job(config, job_id)  # its worker is alive: not settled
        assert (running["state"], running["error"]) == ("running", None)

    # Edits while the job waits for the lock, and once it holds it (before its transaction).
    guard = hooked_guard(config, waiting=lambda: edit_site(make, site_id, "waiting"), inside=inside)
    assert run(config, job_id, guard=guard) == "done"
    assert exact_site(config, site_id) != seen["replaced"]
    slugs = {p["slug"] for p in seen["replaced"][0]["pages"]}
    assert {"new-waiting", "new-inside"} <= slugs

    def remember():
        seen["restored"] = exact_site(config, site_id)

    undo_id = undo(config, job_id, site_id, owner_id)
    assert run(config, undo_id, guard=hooked_guard(config, inside=remember)) == "done"
    assert exact_site(config, site_id) == seen["replaced"]  # both edits back, exactly
    # The undo saved what it replaced too: undoing it brings the restored site back.
    redo_id = undo(config, undo_id, site_id, owner_id)
    assert run(config, redo_id) == "done"
    assert exact_site(config, site_id) == seen["restored"]
    assert other_sites_state(config, site_id) == others


@pytest.mark.integration
def test_a_restore_that_fails_changes_nothing_and_keeps_no_undo(any_app, make, tmp_path):
    config = any_app.config
    site_id, owner_id = camp_site(make)
    saved = export_site(config, site_id, dest=tmp_path / "saved.tar.gz")
    job_id = queue_restore(config, site_id, owner_id, saved.path.read_bytes())
    edit_site(make, site_id, "later")
    before = snapshot(config, all_site_ids())
    exports_dir(config).mkdir(parents=True, exist_ok=True)
    exports = sorted(p.name for p in exports_dir(config).iterdir())

    def broken(self, *args):
        raise RuntimeError("the disk said no")

    original = loader._Load._pages
    loader._Load._pages = broken
    try:
        assert run(config, job_id) == "failed"
    finally:
        loader._Load._pages = original
    job = restorejobs.read_job(config, job_id)
    assert "the site is as it was" in job["error"]
    assert job["undo_export"] is None
    assert not restorejobs.undo_available(config, job)
    assert snapshot(config, all_site_ids()) == before
    assert sorted(p.name for p in exports_dir(config).iterdir()) == exports


def _waiting_on_a_lock(engine):
    """Return True while a session of this test's database waits for a row lock."""
    if engine.dialect.name == "postgresql":
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    else:
        query = (
            "SELECT count(*) FROM information_schema.innodb_trx t "
            "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()"
        )
    with engine.connect() as conn:
        return conn.exec_driver_sql(query).scalar() > 0


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["mariadb", "postgresql"])
def test_an_edit_in_flight_when_the_restore_begins_is_in_its_undo(make_app, make, engine, tmp_path):
    """An edit whose transaction is open when the restore's begins: saved, never lost."""
    app = make_app(engine)
    with app.app_context():
        config = app.config
        site_id, owner_id = camp_site(make)
        saved = export_site(config, site_id, dest=tmp_path / "saved.tar.gz")
        job_id = queue_restore(config, site_id, owner_id, saved.path.read_bytes())
        block_id = db.session.scalar(
            sa.select(Block.id).join(Page).where(Page.site_id == site_id).order_by(Block.id)
        )
        db.session.remove()
        edit = db.engine.connect()
        in_flight = edit.begin()
        edit.execute(
            sa.update(Block).where(Block.id == block_id).values(data={"html": "in flight"})
        )
        outcome = []

        def restore():
            with app.app_context():
                outcome.append(run(config, job_id))

        worker = threading.Thread(target=restore)
        worker.start()
        try:
            waiting = "the restore to wait for the edit's lock"
            wait_for(lambda: _waiting_on_a_lock(db.engine), interval=0.1, what=waiting)
            in_flight.commit()
        finally:
            edit.close()
            worker.join()
        assert outcome == ["done"]
        assert run(config, undo(config, job_id, site_id, owner_id)) == "done"
        assert db.session.get(Block, block_id).data == {"html": "in flight"}
