"""Site exports run by a real Celery worker process on the real Redis."""

import io
import json
import os
import tarfile
import time
from datetime import timedelta

import pytest

from app.exports.export import exports_dir
from app.exports.jobs import sweep_exports
from app.extensions import db
from app.models import ExportJob, utcnow
from tests.support.jobs import export_to_the_end
from tests.support.waiting import wait_for
from tests.support.web import login, post_export
from tests.workers import app_worker, purge_queue, redis_app_config, unique_queue, use_queue

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_app(make_app):
    """An app on SQLite whose tasks go to a fresh queue on the real Redis."""
    app = make_app(**redis_app_config())
    queue = unique_queue()
    use_queue(app, queue)
    with app.app_context():
        yield app, queue
    purge_queue(queue)


def _job_state(job_id):
    db.session.commit()  # see what the worker committed
    return db.session.get(ExportJob, job_id)


def test_worker_runs_the_export_end_to_end(worker_app, make, tmp_path):
    app, queue = worker_app
    owner = make.user()
    site = make.site(owner=owner, subdomain="riverbend")
    make.page(site, slug="home", blocks=[("text", {"html": "<p>river</p>"})])
    photo = make.media(site, content=os.urandom(300_000), name="river.jpg")
    client, csrf = login(app, owner)

    with app_worker(app, queue, tmp_path / "worker.log") as worker:
        status = export_to_the_end(client, csrf, site.id, worker)
        download = client.get(status["download_url"])

    assert download.status_code == 200
    assert download.headers["X-Checksum-SHA256"] == status["sha256"]
    with tarfile.open(fileobj=io.BytesIO(download.get_data()), mode="r:gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        pages = json.load(tar.extractfile("pages.json"))
        media_bytes = tar.extractfile(f"media/{photo.stored_name}").read()
    assert manifest["site"]["subdomain"] == "riverbend"
    assert pages[0]["blocks"][0]["data"] == {"html": "<p>river</p>"}
    with open(f"{app.config['STINKY_DATA_DIR']}/uploads/{photo.relative_path}", "rb") as f:
        assert media_bytes == f.read()


def test_killed_worker_leaves_a_job_the_sweep_fails(worker_app, make, tmp_path):
    app, queue = worker_app
    site = make.site()
    slow = make.media(site, content=b"x", name="huge.txt")
    # A sparse file of 64 GiB: the export is still compressing it when the worker is killed.
    os.truncate(f"{app.config['STINKY_DATA_DIR']}/uploads/{slow.relative_path}", 64 << 30)
    client, csrf = login(app, site.owner)

    worker = app_worker(app, queue, tmp_path / "worker.log").start()
    try:
        job_id = post_export(client, csrf, site.id).get_json()["job_id"]
        wait_for(
            lambda: list(exports_dir(app.config).glob(".*.tmp-*")), what="the archive to start"
        )
        worker.kill()
    finally:
        worker.stop()
    assert _job_state(job_id).state == "running"
    assert worker.process.returncode == -9
    assert not list(exports_dir(app.config).glob("site-*.tar.gz"))

    # While the dead job is young, a new click answers with it...
    again = post_export(client, csrf, site.id).get_json()
    assert again["job_id"] == job_id
    # ...and the sweep, once it is older than EXPORT_STUCK_AFTER, fails it and its leftovers.
    later = utcnow() + timedelta(seconds=app.config["EXPORT_STUCK_AFTER"] + 60)
    report = sweep_exports(app.config, db.session, clock=lambda: later)
    assert report.stuck_jobs == [job_id]
    assert report.temporaries
    job = _job_state(job_id)
    assert job.state == "failed"
    assert "Start a new export" in job.error
    assert [p.name for p in exports_dir(app.config).iterdir()] == []
    fresh = post_export(client, csrf, site.id).get_json()
    assert fresh["job_id"] != job_id
    assert fresh["state"] == "queued"


def test_worker_runs_the_sweep_task(worker_app, make, tmp_path):
    app, queue = worker_app
    site = make.site()
    old = tmp_path / "unused"
    folder = exports_dir(app.config)
    folder.mkdir(parents=True)
    expired = folder / "site-1-2020-01-01-000000.tar.gz"
    expired.write_bytes(b"old")
    long_ago = time.time() - app.config["EXPORT_RETENTION"] - 60
    os.utime(expired, (long_ago, long_ago))
    stuck = ExportJob(
        site_id=site.id, user_id=site.owner_id, created_at=utcnow() - timedelta(days=1)
    )
    db.session.add(stuck)
    db.session.commit()
    from app.tasks.exports import sweep_site_exports

    with app_worker(app, queue, tmp_path / "worker.log") as worker:
        outcome = sweep_site_exports.apply_async(queue=queue)
        report = outcome.get(timeout=60)
        outcome.forget()
        assert report["stuck_jobs"] == [stuck.id], worker.output()
    assert report["expired_files"] == [expired.name]
    assert not expired.exists()
    assert _job_state(stuck.id).state == "failed"
    assert not old.exists()
