"""Who may request, watch and download a site export, and what everyone else gets."""

import os
import time
from datetime import timedelta

import itsdangerous.timed
import pytest
from sqlalchemy import func, select

from app.exports.jobs import run_export_job, sweep_exports
from app.exports.links import make_download_token
from app.extensions import db
from app.models import ExportJob, utcnow
from tests.support.web import login, post_export

ROLES = ("owner", "site_admin", "editor", "other_owner", "global_admin", "anonymous")
MAY_MANAGE = {"owner", "site_admin", "global_admin"}


@pytest.fixture
def camp(make):
    """A site with an owner, an admin and an editor; a second site; a global admin."""
    owner = make.user(email="owner@camp.example")
    site = make.site(owner=owner, subdomain="lakeside", title="Lakeside")
    make.page(site, slug="home", blocks=[("text", {"html": "<p>hi</p>"})])
    make.media(site, content=b"\x89PNG lake bytes", name="lake.png")
    site_admin, editor = make.user(), make.user()
    make.member(site, site_admin, "admin")
    make.member(site, editor, "editor")
    other_owner = make.user()
    other = make.site(owner=other_owner, subdomain="hilltop")
    users = {
        "owner": owner,
        "site_admin": site_admin,
        "editor": editor,
        "other_owner": other_owner,
        "global_admin": make.user(admin=True),
        "anonymous": None,
    }
    return site, other, users


def _ready_job(app, site, user):
    """Return the id of a finished export of ``site`` requested by ``user``."""
    job = ExportJob(site_id=site.id, user_id=user.id)
    db.session.add(job)
    db.session.commit()
    assert run_export_job(app.config, db.session, job.id) == "ready"
    return job.id


def _job_count():
    db.session.commit()  # end the test's read transaction: requests ran in their own sessions
    return db.session.scalar(select(func.count()).select_from(ExportJob))


@pytest.mark.parametrize("role", ROLES)
def test_request_export_permission(app, camp, role):
    site, _other, users = camp
    client, csrf = login(app, users[role])
    response = post_export(client, csrf, site.id)
    if role in MAY_MANAGE:
        assert response.status_code == 202
        body = response.get_json()
        assert body["state"] == "queued"
        assert body["status_url"] == f"/admin/export/{body['job_id']}"
        assert _job_count() == 1
    else:
        assert response.status_code in (400, 401, 403)
        assert _job_count() == 0
        if role != "anonymous":
            assert response.status_code == 403
            assert response.get_json() == {"error": "You may not export this site."}


def test_missing_site_looks_exactly_like_a_forbidden_one(app, camp):
    _site, other, users = camp
    client, csrf = login(app, users["owner"])
    forbidden = post_export(client, csrf, other.id)
    missing = post_export(client, csrf, 999_999)
    assert (forbidden.status_code, forbidden.get_data()) == (
        missing.status_code,
        missing.get_data(),
    )
    assert forbidden.status_code == 403
    assert post_export(client, csrf, "not-a-number").status_code == 400


def test_request_needs_a_csrf_token(app, camp):
    site, _other, users = camp
    client, _csrf = login(app, users["owner"])
    assert post_export(client, "forged", site.id).status_code == 400
    assert _job_count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_status_permission(app, camp, role):
    site, _other, users = camp
    job_id = _ready_job(app, site, users["owner"])
    client, _csrf = login(app, users[role])
    response = client.get(f"/admin/export/{job_id}", headers={"Accept": "application/json"})
    if role in MAY_MANAGE:
        assert response.status_code == 200
        body = response.get_json()
        assert body["state"] == "ready"
        assert body["progress"]["done"] == body["progress"]["total"] > 0
        assert body["download_url"].startswith(f"/admin/export/{job_id}/download?token=")
    elif role == "anonymous":
        assert response.status_code == 401
    else:
        assert response.status_code == 404
        assert response.get_json() == {"error": "No such export."}


def test_status_of_a_missing_job_looks_like_another_sites_job(app, camp):
    site, _other, users = camp
    job_id = _ready_job(app, site, users["owner"])
    client, _csrf = login(app, users["other_owner"])
    theirs = client.get(f"/admin/export/{job_id}")
    missing = client.get("/admin/export/999999")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_data() == missing.get_data()


@pytest.mark.parametrize("role", ROLES)
def test_download_permission_with_a_link_signed_for_that_user(app, camp, role):
    site, _other, users = camp
    job_id = _ready_job(app, site, users["owner"])
    job = db.session.get(ExportJob, job_id)
    signer = users[role] or users["owner"]  # anonymous tries the owner's link
    token = make_download_token(app.config["SECRET_KEY"], job_id, signer.id, job.filename)
    client, _csrf = login(app, users[role])
    response = client.get(f"/admin/export/{job_id}/download?token={token}")
    if role in MAY_MANAGE:
        assert response.status_code == 200
        export_file = app.config["STINKY_DATA_DIR"] + f"/backups/site-exports/{job.filename}"
        with open(export_file, "rb") as f:
            assert response.get_data() == f.read()
        assert response.headers["X-Checksum-SHA256"] == job.sha256
        assert response.headers["Content-Length"] == str(job.size)
        assert response.headers["Content-Disposition"] == f"attachment; filename={job.filename}"
        assert response.headers["ETag"] == f'"{job.sha256}"'
    elif role == "anonymous":
        assert response.status_code in (302, 401)
        assert b"lake" not in response.get_data()
    else:  # a valid signature does not outlive the permission
        assert response.status_code == 404


def test_download_is_conditional(app, camp):
    site, _other, users = camp
    client, _csrf = login(app, users["owner"])
    job_id = _ready_job(app, site, users["owner"])
    url = client.get(f"/admin/export/{job_id}").get_json()["download_url"]
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    partial = client.get(url, headers={"Range": "bytes=0-9"})
    assert partial.status_code == 206
    assert len(partial.get_data()) == 10


def test_tampered_link_is_refused(app, camp):
    site, _other, users = camp
    client, _csrf = login(app, users["owner"])
    job_id = _ready_job(app, site, users["owner"])
    url = client.get(f"/admin/export/{job_id}").get_json()["download_url"]
    flipped = url[:-3] + ("A" if url[-3] != "A" else "B") + url[-2:]
    for bad in (flipped, url.split("?")[0], url.split("?")[0] + "?token=x", url + "x"):
        response = client.get(bad)
        assert response.status_code == 403, bad
        assert b"lake" not in response.get_data()


def test_link_of_another_user_is_refused(app, camp):
    site, _other, users = camp
    owner_client, _ = login(app, users["owner"])
    job_id = _ready_job(app, site, users["owner"])
    url = owner_client.get(f"/admin/export/{job_id}").get_json()["download_url"]
    admin_client, _ = login(app, users["site_admin"])  # may manage the site, but not her link
    assert admin_client.get(url).status_code == 403
    assert owner_client.get(url).status_code == 200


def test_link_for_one_job_does_not_open_another(app, camp):
    site, _other, users = camp
    client, _ = login(app, users["owner"])
    first = _ready_job(app, site, users["owner"])
    second = _ready_job(app, site, users["owner"])
    token = client.get(f"/admin/export/{first}").get_json()["download_url"].split("token=")[1]
    assert client.get(f"/admin/export/{second}/download?token={token}").status_code == 403


def test_expired_link_is_refused(app, camp, monkeypatch):
    site, _other, users = camp
    client, _ = login(app, users["owner"])
    job_id = _ready_job(app, site, users["owner"])
    url = client.get(f"/admin/export/{job_id}").get_json()["download_url"]
    assert client.get(url).status_code == 200

    class Later:
        @staticmethod
        def time():
            return time.time() + app.config["EXPORT_LINK_TTL"] + 5

    monkeypatch.setattr(itsdangerous.timed, "time", Later)
    response = client.get(url)
    assert response.status_code == 403
    assert "expired" in response.get_json()["error"]


def test_swept_export_says_expired(app, camp):
    site, _other, users = camp
    client, _ = login(app, users["owner"])
    job_id = _ready_job(app, site, users["owner"])
    url = client.get(f"/admin/export/{job_id}").get_json()["download_url"]
    later = utcnow() + timedelta(seconds=app.config["EXPORT_RETENTION"] + 60)
    report = sweep_exports(app.config, db.session, clock=lambda: later)
    assert len(report.expired_files) == 1
    response = client.get(url)
    assert response.status_code == 410
    assert "expired" in response.get_json()["error"]
    status = client.get(f"/admin/export/{job_id}").get_json()
    assert status["state"] == "ready"
    assert status["expired"] is True
    assert status["download_url"] is None
    assert "expired: export again" in client.get(f"/admin/sites/{site.id}").get_data(as_text=True)


def test_duplicate_clicks_give_one_job(app, camp):
    site, _other, users = camp
    client, csrf = login(app, users["owner"])
    first = post_export(client, csrf, site.id).get_json()
    admin_client, admin_csrf = login(app, users["site_admin"])
    second = post_export(admin_client, admin_csrf, site.id).get_json()
    assert first["job_id"] == second["job_id"]
    assert _job_count() == 1


def test_form_post_without_javascript_redirects_to_the_site_page(app, camp):
    site, _other, users = camp
    client, csrf = login(app, users["owner"])
    response = client.post("/admin/export", data={"site_id": site.id, "csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/sites/{site.id}"
    page = client.get(f"/admin/sites/{site.id}").get_data(as_text=True)
    assert "Your export has started." in page
    assert 'data-state="queued"' in page
    assert 'http-equiv="refresh"' in page  # the page refreshes itself without JavaScript


@pytest.mark.parametrize("role", ROLES)
def test_site_page_permission(app, camp, role):
    site, _other, users = camp
    client, _ = login(app, users[role])
    response = client.get(f"/admin/sites/{site.id}")
    if role in MAY_MANAGE:
        assert response.status_code == 200
        assert "Download my site" in response.get_data(as_text=True)
    elif role == "anonymous":
        assert response.status_code == 302
    else:
        assert response.status_code == 404
        assert "Lakeside" not in response.get_data(as_text=True)


def test_dashboard_links_to_the_site_page(app, camp):
    site, _other, users = camp
    client, _ = login(app, users["owner"])
    assert f'href="/admin/sites/{site.id}"' in client.get("/admin/").get_data(as_text=True)


def test_failed_export_shows_its_reason_on_the_page(app, camp):
    site, _other, users = camp
    job = ExportJob(site_id=site.id, user_id=users["owner"].id)
    db.session.add(job)
    db.session.commit()
    os.makedirs(app.config["STINKY_DATA_DIR"] + "/backups", exist_ok=True)
    # A file where the exports folder should be: the export cannot be written.
    open(app.config["STINKY_DATA_DIR"] + "/backups/site-exports", "w").close()
    assert run_export_job(app.config, db.session, job.id) == "failed"
    client, _ = login(app, users["owner"])
    status = client.get(f"/admin/export/{job.id}").get_json()
    assert status["state"] == "failed"
    assert status["error"]
    page = client.get(f"/admin/sites/{site.id}").get_data(as_text=True)
    assert "Export failed: " in page


def test_unreachable_queue_fails_the_job_with_a_clear_message(make_app, make):
    app = make_app(CELERY_BROKER_URL="redis://127.0.0.1:9/0")  # nothing listens there
    with app.app_context():
        site = make.site()
        client, csrf = login(app, site.owner)
        response = post_export(client, csrf, site.id)
        assert response.status_code == 503
        assert response.get_json() == {
            "error": "The export could not be queued. Try again in a minute."
        }
        db.session.commit()
        job = db.session.scalars(select(ExportJob)).one()
        assert job.state == "failed"
        # The failed job does not block the next click: it makes a new job.
        assert post_export(client, csrf, site.id).status_code == 503
        assert _job_count() == 2
