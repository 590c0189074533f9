"""Restoring a site to a version in the backups, and undoing it: exact, on every engine.

The job goes the way of ``flask backup restore ID --site`` (lock, whole archive
checked and authenticated, the site alone in maintenance), saves the site
first in its own transaction (the undo of a restore from a file), and never
reads another site's rows.
"""

import pytest
import sqlalchemy as sa

from app.backup.history import live_entry, site_history
from app.backup.history import store as indexfiles
from app.backup.system import create_backup
from app.coordination import backup_lock, enter_maintenance, leave_maintenance
from app.exports import restorejobs
from app.exports.historyjobs import BUSY
from app.extensions import db
from app.models import Site, SiteUser, User
from tests.backupkit import FakeClock
from tests.historykit import queue_history, run_history
from tests.sitekit import build_camp
from tests.support.states import camp_site, edit_site, other_sites_state
from tests.undokit import exact_site, run, undo


@pytest.mark.integration
def test_a_history_restore_and_its_undo_are_exact(any_app, make):
    config = any_app.config
    owner = make.user(email="owner@lakeside.example")
    site_id, owner_id = (
        build_camp(make, "lakeside", owner=owner, members=[(make.user(), "editor")]).id,
        owner.id,
    )
    build_camp(make, "pinecrest")
    clock = FakeClock()
    then = exact_site(config, site_id)
    backup_id = create_backup(config, db.engine, clock=clock).backup_id
    edit_site(make, site_id, "since")
    clock.advance(days=1)
    latest_id = create_backup(config, db.engine, clock=clock).backup_id
    now = exact_site(config, site_id)
    others = other_sites_state(config, site_id)

    job_id = queue_history(config, site_id, owner_id, backup_id)
    assert run_history(config, job_id) == "done", restorejobs.read_job(config, job_id)["error"]
    assert exact_site(config, site_id) == then  # every row, id and file of that night
    assert other_sites_state(config, site_id) == others
    assert _same_as_now(config, site_id) == [False, True]  # the history says so too

    undo_id = undo(config, job_id, site_id, owner_id)
    assert run(config, undo_id) == "done", restorejobs.read_job(config, undo_id)["error"]
    assert exact_site(config, site_id) == now  # the edits back, exactly
    assert other_sites_state(config, site_id) == others
    assert _same_as_now(config, site_id) == [True, False]
    assert latest_id != backup_id


def _same_as_now(config, site_id):
    """Return, newest first, whether each version of the site is what the site is now."""
    db.session.remove()
    history = site_history(config, db.engine, site_id, "lakeside")
    return [version.same_as_now for version in history.versions]


def test_an_owners_restore_brings_back_no_member_removed_since(app, make):
    """The rows meet the site's users of now alone, as in an owner's restore from a file."""
    owner, editor = make.user(), make.user(email="removed@lakeside.example")
    site = build_camp(make, "lakeside", owner=owner, members=[(editor, "editor")])
    site_id, owner_id = site.id, owner.id
    backup_id = create_backup(app.config, db.engine, clock=FakeClock()).backup_id
    db.session.execute(sa.delete(SiteUser).where(SiteUser.user_id == editor.id))
    db.session.commit()
    job_id = queue_history(app.config, site_id, owner_id, backup_id)
    assert run_history(app.config, job_id) == "done"
    summary = restorejobs.read_job(app.config, job_id)["summary"]
    assert summary["dropped_members"] == ["removed@lakeside.example"]
    rows, _files = exact_site(app.config, site_id)
    assert [m["user_id"] for m in rows["site_users"]] == [owner_id]


def test_a_backup_of_a_former_site_under_the_name_is_refused(app, make):
    """A freed id may be given again (SQLite does): the site's creation tells the two apart."""
    old_id, _owner = camp_site(make)
    backup_id = create_backup(app.config, db.engine, clock=FakeClock()).backup_id
    db.session.delete(db.session.get(Site, old_id))
    db.session.commit()
    owner_id = make.user().id
    make.site(owner=db.session.get(User, owner_id), subdomain="lakeside", id=old_id)
    before = exact_site(app.config, old_id)
    job_id = queue_history(app.config, old_id, owner_id, backup_id)
    assert run_history(app.config, job_id) == "failed"
    error = restorejobs.read_job(app.config, job_id)["error"]
    assert "holds no version of the site lakeside" in error
    assert exact_site(app.config, old_id) == before


def test_a_tampered_index_still_gets_no_other_sites_rows(app, make):
    """The rows read out of the archive are checked again before a row is written."""
    site_id, owner_id = camp_site(make)
    pinecrest = db.session.scalar(sa.select(Site).where(Site.subdomain == "pinecrest"))
    backup_id = create_backup(app.config, db.engine, clock=FakeClock()).backup_id
    index = indexfiles.read_index(app.config, backup_id)
    for entry in index["sites"]:  # the index claims lakeside's version is pinecrest's
        if entry["subdomain"] == "lakeside":
            entry.update(id=pinecrest.id, created_at=_created(pinecrest.id))
        else:
            entry.update(subdomain="other")
    indexfiles.write_index(app.config, index)
    db.session.execute(sa.update(Site).where(Site.id == site_id).values(subdomain="gone"))
    db.session.execute(sa.update(Site).where(Site.id == pinecrest.id).values(subdomain="lakeside"))
    db.session.commit()
    before = exact_site(app.config, pinecrest.id)
    job_id = queue_history(app.config, pinecrest.id, owner_id, backup_id)
    assert run_history(app.config, job_id) == "failed"
    assert "holds another site named lakeside" in restorejobs.read_job(app.config, job_id)["error"]
    assert exact_site(app.config, pinecrest.id) == before


def _created(site_id):
    db.session.remove()
    return live_entry(db.engine, site_id)["created_at"]


def test_one_history_restore_per_site_at_a_time(app, make):
    site_id, owner_id = camp_site(make)
    backup_id = create_backup(app.config, db.engine, clock=FakeClock()).backup_id
    queue_history(app.config, site_id, owner_id, backup_id)
    with pytest.raises(restorejobs.JobStateError, match=BUSY):
        queue_history(app.config, site_id, owner_id, backup_id)
    pinecrest = db.session.scalar(sa.select(Site.id).where(Site.subdomain == "pinecrest"))
    queue_history(app.config, pinecrest, owner_id, backup_id)  # another site: its own turn


def test_a_running_backup_is_waited_for_then_the_job_fails_changing_nothing(app, make):
    site_id, owner_id = camp_site(make)
    backup_id = create_backup(app.config, db.engine, clock=FakeClock()).backup_id
    edit_site(make, site_id, "since")
    before = exact_site(app.config, site_id)
    app.config["RESTORE_LOCK_WAIT"] = 0
    job_id = queue_history(app.config, site_id, owner_id, backup_id)
    with backup_lock(app.config, "backup"):
        assert run_history(app.config, job_id) == "failed"
    assert "backup" in restorejobs.read_job(app.config, job_id)["error"]
    assert exact_site(app.config, site_id) == before


def test_a_whole_system_restore_makes_it_step_aside_queued(app, make):
    from app.backup.errors import PausedForRestore

    site_id, owner_id = camp_site(make)
    backup_id = create_backup(app.config, db.engine, clock=FakeClock()).backup_id
    job_id = queue_history(app.config, site_id, owner_id, backup_id)
    with backup_lock(app.config, "restore"):
        enter_maintenance(app.config, "restoring everything")
        try:
            with pytest.raises(PausedForRestore):
                run_history(app.config, job_id)
        finally:
            leave_maintenance(app.config)
    assert restorejobs.read_job(app.config, job_id)["state"] == "queued"
    assert run_history(app.config, job_id) == "done"
