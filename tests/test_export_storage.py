"""Exports in object storage: the worker uploads, the web redirects to a short presigned URL."""

import hashlib
import os
import urllib.request
from datetime import timedelta

import pytest

from app.exports import remote
from app.exports.export import exports_dir
from app.exports.jobs import run_export_job, sweep_exports
from app.extensions import db
from app.models import ExportJob, utcnow
from tests.support.web import login


@pytest.fixture
def store_app(make_app, s3_config):
    app = make_app(**s3_config)
    with app.app_context():
        yield app


@pytest.fixture
def camp(make):
    owner = make.user()
    site = make.site(owner=owner, subdomain="lakeside")
    make.page(site, slug="home", blocks=[("text", {"html": "<p>hi</p>"})])
    make.media(site, content=os.urandom(200_000), name="lake.jpg")
    return site, owner, make.user()


def _ready_job(app, site, user):
    job = ExportJob(site_id=site.id, user_id=user.id)
    db.session.add(job)
    db.session.commit()
    assert run_export_job(app.config, db.session, job.id) == "ready"
    db.session.commit()
    return db.session.get(ExportJob, job.id)


def test_the_worker_uploads_and_the_download_redirects_to_the_object(store_app, camp):
    site, owner, _ = camp
    job = _ready_job(store_app, site, owner)
    assert not (exports_dir(store_app.config) / job.filename).exists()  # no local copy left
    store = remote.export_store(store_app.config)
    assert store.head(job.filename).size == job.size

    client, _ = login(store_app, owner)
    status = client.get(f"/admin/export/{job.id}").get_json()
    response = client.get(status["download_url"])
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(store_app.config["EXPORT_STORAGE_ENDPOINT"])
    assert f"X-Amz-Expires={store_app.config['EXPORT_STORAGE_LINK_TTL']}" in location
    with urllib.request.urlopen(location) as answer:
        body = answer.read()
        disposition = answer.headers["Content-Disposition"]
    assert hashlib.sha256(body).hexdigest() == job.sha256
    assert disposition == f'attachment; filename="{job.filename}"'


def test_the_same_checks_come_before_any_redirect(store_app, camp):
    site, owner, stranger = camp
    job = _ready_job(store_app, site, owner)
    owner_client, _ = login(store_app, owner)
    link = owner_client.get(f"/admin/export/{job.id}").get_json()["download_url"]

    stranger_client, _ = login(store_app, stranger)
    assert stranger_client.get(link).status_code == 403  # a link signed for the owner
    assert owner_client.get(link.replace("token=", "token=x")).status_code == 403
    anonymous, _ = login(store_app, None)
    refused = anonymous.get(link)
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/login")


def test_the_sweep_deletes_expired_and_orphaned_objects(store_app, camp):
    site, owner, _ = camp
    old = _ready_job(store_app, site, owner)
    old.finished_at = utcnow() - timedelta(seconds=store_app.config["EXPORT_RETENTION"] + 60)
    old_name = old.filename
    db.session.commit()
    store = remote.export_store(store_app.config)
    store.put_bytes("site-9-2020-01-01-000000.tar.gz", b"an orphan")

    report = sweep_exports(store_app.config, db.session)
    assert report.expired_files == [old_name]
    assert store.head(old_name) is None
    assert store.head("site-9-2020-01-01-000000.tar.gz") is not None  # young: kept

    later = utcnow() + timedelta(seconds=store_app.config["EXPORT_RETENTION"] + 60)
    fresh = _ready_job(store_app, site, owner)
    fresh.finished_at, fresh_name = later, fresh.filename  # still offered at ``later``
    db.session.commit()
    report = sweep_exports(store_app.config, db.session, clock=lambda: later)
    assert report.expired_files == ["site-9-2020-01-01-000000.tar.gz"]
    assert [o.name for o in store.list()] == [fresh_name]  # the offered one stays


def test_an_export_the_store_refuses_fails_with_a_readable_message(make_app, make, s3_config):
    app = make_app(**{**s3_config, "EXPORT_STORAGE_URL": "s3://sk-test-no-such-bucket/x"})
    with app.app_context():
        owner = make.user()
        site = make.site(owner=owner)
        job = ExportJob(site_id=site.id, user_id=owner.id)
        db.session.add(job)
        db.session.commit()
        assert run_export_job(app.config, db.session, job.id) == "failed"
        db.session.commit()
        job = db.session.get(ExportJob, job.id)
        assert job.error == "The export could not be stored for download. Try again later."
