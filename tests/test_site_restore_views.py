"""Who may restore a site from an export file on its page, and what the flow does."""

from datetime import timedelta
from pathlib import Path

import pytest

from app.coordination import site_guard
from app.exports.export import export_site
from app.exports.restorejobs import imports_dir, read_job, sweep_restore_jobs
from app.exports.restorerun import run_restore_job
from app.extensions import db
from app.models import Site, User, utcnow
from app.tasks.siteimports import restore_guard
from tests.sitekit import all_site_ids, build_camp, snapshot
from tests.support.archives import SITE_EXPORT_V1, export_content
from tests.support.web import login, post_json, upload_export

MAY_MANAGE = {"owner", "site_admin", "global_admin"}


@pytest.fixture
def camp(make):
    """The lakeside site with an owner, admin and editor; a neighbour; a global admin."""
    owner = make.user(email="owner@lakeside.example")
    admin, editor = make.user(), make.user()
    site = build_camp(make, "lakeside", owner=owner, members=[(admin, "admin"), (editor, "editor")])
    other_owner = make.user()
    build_camp(make, "pinecrest", owner=other_owner)
    users = {
        "owner": owner, "site_admin": admin, "editor": editor, "other_owner": other_owner,
        "global_admin": make.user(admin=True), "anonymous": None,
    }  # fmt: skip
    return site.id, {role: user and user.id for role, user in users.items()}


def _as(app, users, role):
    """Return (client, CSRF token) of a client logged in as ``role``."""
    return login(app, users[role] and db.session.get(User, users[role]))


def _run(app, job_id):
    db.session.remove()
    state = run_restore_job(app.config, db.session, job_id, guard=restore_guard(app.config))
    db.session.remove()
    return state


@pytest.mark.parametrize(
    "role", ["owner", "site_admin", "editor", "other_owner", "global_admin", "anonymous"]
)
def test_only_those_who_manage_the_site_may_upload(app, camp, role):
    site_id, users = camp
    client, csrf = _as(app, users, role)
    answer = upload_export(client, csrf, site_id, SITE_EXPORT_V1.read_bytes())
    if role in MAY_MANAGE:
        assert answer.status_code == 201, answer.get_json()
        job = answer.get_json()
        assert job["state"] == "uploaded"
        assert job["preview"]["subdomain"] == "golden-camp"
        assert job["preview"]["counts"]["pages"] == 3
        assert job["preview"]["exported_at"] == "2026-11-30T00:45:00.000000Z"
        assert job["other_site"] is True
    else:
        assert answer.status_code == (401 if role == "anonymous" else 403)
        assert not imports_dir(app.config).exists() or not list(imports_dir(app.config).iterdir())


def test_an_upload_needs_the_csrf_token(app, camp):
    site_id, users = camp
    client, _csrf = _as(app, users, "owner")
    assert upload_export(client, "forged", site_id, SITE_EXPORT_V1.read_bytes()).status_code == 400


def test_another_sites_export_needs_a_global_admins_confirmation(app, camp):
    site_id, users = camp
    before = snapshot(app.config, all_site_ids())
    owner, owner_csrf = _as(app, users, "owner")
    job = upload_export(owner, owner_csrf, site_id, SITE_EXPORT_V1.read_bytes()).get_json()
    refused = post_json(owner, owner_csrf, job["confirm_url"], {"confirm_other_site": True})
    assert refused.status_code == 403
    assert "another site (golden-camp)" in refused.get_json()["error"]

    admin, admin_csrf = _as(app, users, "global_admin")
    assert post_json(admin, admin_csrf, job["confirm_url"]).status_code == 409
    assert snapshot(app.config, all_site_ids()) == before
    queued = post_json(admin, admin_csrf, job["confirm_url"], {"confirm_other_site": True})
    assert queued.status_code == 202
    assert _run(app, job["job_id"]) == "done"
    assert db.session.get(Site, site_id).title == "Golden Camp ☀"


def test_restore_then_undo_brings_the_site_back(app, camp, tmp_path):
    site_id, users = camp
    config = app.config
    saved = export_site(config, site_id, dest=tmp_path / "saved.tar.gz")
    site = db.session.get(Site, site_id)
    site.title = "Half deleted"
    db.session.delete(site.pages[0])
    db.session.commit()
    before_restore = export_site(config, site_id, dest=tmp_path / "before.tar.gz")
    neighbours = snapshot(config, [i for i in all_site_ids() if i != site_id])
    client, csrf = _as(app, users, "owner")

    job = upload_export(client, csrf, site_id, saved.path.read_bytes()).get_json()
    assert job["other_site"] is False
    assert post_json(client, csrf, job["confirm_url"]).status_code == 202
    assert client.get(job["status_url"]).get_json()["state"] == "queued"
    assert _run(app, job["job_id"]) == "done"
    assert _run(app, job["job_id"]) is None  # a second delivery does nothing
    done = client.get(job["status_url"]).get_json()
    assert done["summary"]["counts"]["pages"] == 3
    assert done["undo_url"]
    now = export_site(config, site_id, dest=tmp_path / "now.tar.gz")
    assert export_content(now.path, tmp_path / "n") == export_content(saved.path, tmp_path / "s")
    page = client.get(f"/admin/sites/{site_id}").get_data(as_text=True)
    assert 'id="restore-undo" class="secondary">' in page  # offered after a reload too

    undo = post_json(client, csrf, done["undo_url"])
    assert undo.status_code == 202
    assert _run(app, undo.get_json()["job_id"]) == "done"
    back = export_site(config, site_id, dest=tmp_path / "back.tar.gz")
    assert export_content(back.path, tmp_path / "b") == export_content(
        before_restore.path, tmp_path / "r"
    )
    assert snapshot(config, [i for i in all_site_ids() if i != site_id]) == neighbours


def test_a_job_answers_only_under_the_site_it_was_uploaded_for(app, camp):
    site_id, users = camp
    admin, csrf = _as(app, users, "global_admin")
    job = upload_export(admin, csrf, site_id, SITE_EXPORT_V1.read_bytes()).get_json()
    other_id = next(i for i in all_site_ids() if i != site_id)
    elsewhere = f"/admin/sites/{other_id}/restore/{job['job_id']}"
    assert admin.get(elsewhere).status_code == 404
    assert (
        post_json(admin, csrf, elsewhere + "/confirm", {"confirm_other_site": True}).status_code
        == 404
    )
    assert post_json(admin, csrf, elsewhere + "/undo").status_code == 404
    assert admin.get(f"/admin/sites/{site_id}/restore/..%2f..").status_code == 404


def test_too_large_or_not_an_export_is_refused_and_nothing_kept(make_app, make):
    app = make_app(SITE_IMPORT_MAX_BYTES=4096)
    with app.app_context():
        owner = make.user()
        site = make.site(owner=owner)
        client, csrf = login(app, owner)
        too_big = upload_export(client, csrf, site.id, SITE_EXPORT_V1.read_bytes())
        assert too_big.status_code == 413
        assert "4,096 bytes" in too_big.get_json()["error"]
        junk = upload_export(client, csrf, site.id, b"not an archive at all")
        assert junk.status_code == 400
        assert "cannot be restored" in junk.get_json()["error"]
        kept = [p.name for p in imports_dir(app.config).iterdir()]
        assert kept == [f".upload-{site.id}.lock"]  # the site's empty lock file, nothing else
        assert Path(app.config["STINKY_DATA_DIR"], "uploads", str(site.id)).exists() is False


def test_the_sweep_removes_old_finished_jobs_only(app, camp):
    site_id, users = camp
    client, csrf = _as(app, users, "global_admin")
    job = upload_export(client, csrf, site_id, SITE_EXPORT_V1.read_bytes()).get_json()
    later = utcnow() + timedelta(seconds=app.config["EXPORT_RETENTION"] + 60)
    assert sweep_restore_jobs(app.config) == []  # still fresh
    assert sweep_restore_jobs(app.config, clock=lambda: later) == [job["job_id"]]
    assert client.get(job["status_url"]).status_code == 404


def test_a_job_waiting_for_the_lock_steps_aside_for_a_whole_system_restore(
    app, camp, tmp_path, monkeypatch
):
    """A system restore waits for running tasks; one waiting for its lock must not hold it up.

    The interleaving is forced: the system restore raises its flag only once the
    job has been refused the lock, and the job tries again only once the flag is up.
    """
    import sys
    import threading

    from app.backup.errors import BackupLocked, PausedForRestore
    from app.coordination.lock import backup_lock
    from app.coordination.maintenance import enter_maintenance, leave_maintenance
    from app.exports.export import exports_dir

    site_id, users = camp
    config = app.config
    config["RESTORE_LOCK_WAIT"] = 30
    saved = export_site(config, site_id, dest=tmp_path / "saved.tar.gz")
    db.session.get(Site, site_id).title = "Changed since"
    db.session.commit()
    client, csrf = _as(app, users, "owner")
    job = upload_export(client, csrf, site_id, saved.path.read_bytes()).get_json()
    assert post_json(client, csrf, job["confirm_url"]).status_code == 202
    before = snapshot(config, all_site_ids())
    exports = set(exports_dir(config).glob("*")) if exports_dir(config).exists() else set()

    locked, refused, flagged, release = (threading.Event() for _ in range(4))
    guard_module = sys.modules[site_guard.__module__]  # the one guard of a one-site write
    real_lock = guard_module.backup_lock

    class WatchedLock:
        """The guard's lock: on a refusal, tell the test and wait for the flag to go up."""

        def __init__(self, *args, **kwargs):
            self.real = real_lock(*args, **kwargs)

        def __enter__(self):
            try:
                return self.real.__enter__()
            except BackupLocked:
                refused.set()
                flagged.wait(30)
                raise

        def __exit__(self, *exc):
            return self.real.__exit__(*exc)

    monkeypatch.setattr(guard_module, "backup_lock", WatchedLock)

    def system_restore():  # as restore_backup does: the lock, then the flag, then it waits
        with backup_lock(config, "restore"):
            locked.set()
            refused.wait(30)  # the job is waiting for the lock
            enter_maintenance(config, "restoring stinkykitty-2025-06-01-020000")
            flagged.set()
            try:
                release.wait(30)
            finally:
                leave_maintenance(config)

    holder = threading.Thread(target=system_restore)
    holder.start()
    try:
        assert locked.wait(10)
        db.session.remove()
        with pytest.raises(PausedForRestore, match="restoring stinkykitty-2025-06-01-020000"):
            run_restore_job(
                config, db.session, job["job_id"], guard=restore_guard(config),
                step_aside=(PausedForRestore,),
            )  # fmt: skip
        assert refused.is_set()  # it stepped aside while waiting for the lock
        db.session.remove()
        queued = read_job(config, job["job_id"])  # (the pages answer 503 during the restore)
        assert queued["state"] == "queued"
        assert "undo_export" not in queued
        assert queued["progress"] == {"phase": None, "done": 0, "total": 0}  # the page reads it
        assert snapshot(config, all_site_ids()) == before
        assert (set(exports_dir(config).glob("*")) if exports_dir(config).exists() else set()) == (
            exports
        )
    finally:
        release.set()
        holder.join()
    assert _run(app, job["job_id"]) == "done"
    assert db.session.get(Site, site_id).title != "Changed since"
