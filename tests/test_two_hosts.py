"""Web and worker on two hosts: own data dirs, sharing Redis, PostgreSQL and the object store."""

import hashlib
import urllib.request

import pytest

from app import get_celery
from app.backup.offsite import fetch as offsite_fetch
from app.backup.offsite import upload as offsite
from app.coordination.lock import backup_lock
from app.exports.export import exports_dir
from app.extensions import db
from tests.s3kit import CREDENTIALS
from tests.support.jobs import export_to_the_end
from tests.support.web import login
from tests.workers import (
    REDIS_URL,
    CeleryProcess,
    app_environ,
    purge_queue,
    redis_app_config,
    unique_queue,
    use_queue,
    wait_result,
)

pytestmark = pytest.mark.integration

SHARED_KEYS = (
    "BACKUP_STORAGE_URL",
    "BACKUP_STORAGE_ENDPOINT",
    "BACKUP_STORAGE_PART_SIZE",
    "EXPORT_STORAGE_URL",
    "EXPORT_STORAGE_ENDPOINT",
    "BACKUP_LOCK_URL",
    "BACKUP_LOCK_PREFIX",
    *CREDENTIALS,
)


@pytest.fixture
def web(make_app, s3_config, tmp_path):
    """The web host: PostgreSQL, Redis broker and lock, object storage, its own data dir."""
    app = make_app(
        "postgresql",
        data_dir=tmp_path / "web-host",
        BACKUP_LOCK_URL=REDIS_URL,
        BACKUP_LOCK_PREFIX=f"sk-test-{unique_queue()}",
        **redis_app_config(),
        **s3_config,
    )
    queue = unique_queue()
    use_queue(app, queue)
    with app.app_context():
        yield app, queue
    purge_queue(queue)


@pytest.fixture
def worker(web, tmp_path):
    """The worker host: the same settings but another data dir, in a process of its own."""
    app, queue = web
    environ = {
        **app_environ(app),
        **{key: app.config[key] for key in SHARED_KEYS},
        "STINKY_DATA_DIR": tmp_path / "worker-host",
    }
    with CeleryProcess(tmp_path / "worker.log", environ, queue=queue) as process:
        yield process


def test_export_flow_across_hosts_goes_through_the_object_store(web, worker, make, tmp_path):
    app, _ = web
    owner = make.user()
    site = make.site(owner=owner, subdomain="riverbend")
    make.page(site, slug="home", blocks=[("text", {"html": "<p>river</p>"})])
    make.media(site, content=b"\xff\xd8 river" * 10_000, name="river.jpg")
    client, csrf = login(app, owner)

    status = export_to_the_end(client, csrf, site.id, worker)
    # Neither host keeps the file: the web never saw it, the worker uploaded and removed it.
    assert not exports_dir(app.config).exists() or not any(exports_dir(app.config).iterdir())
    assert not list((tmp_path / "worker-host").rglob(status["filename"]))

    response = client.get(status["download_url"])
    assert response.status_code == 302
    with urllib.request.urlopen(response.headers["Location"]) as answer:
        assert hashlib.sha256(answer.read()).hexdigest() == status["sha256"]


def test_a_backup_on_the_worker_host_honours_the_lock_held_on_the_web_host(web, worker, make):
    app, _ = web
    make.site(owner=make.user(), subdomain="lakeside")
    celery = get_celery(app)

    with backup_lock(app.config, "restore") as holder:
        refused = wait_result(
            celery.send_task("stinkykitty.system_backup", kwargs={"trigger": "cli"}),
            worker.log_path,
        )
    assert refused["outcome"] == "skipped"
    assert f"a restore is running (pid {holder['pid']} on {holder['host']}" in refused["error"]

    done = wait_result(
        celery.send_task("stinkykitty.system_backup", kwargs={"trigger": "cli"}),
        worker.log_path,
    )
    assert done["outcome"] == "ok", worker.output()
    assert done["offsite"] == "ok"

    # The web host has no backup of its own, finds the worker's copy and fetches it.
    (copy,) = offsite.remote_copies(app.config)
    assert copy["backup_id"] == done["backup_id"]
    path = offsite_fetch.fetch_backup(app.config, done["backup_id"])
    made = path.parents[3] / "worker-host" / "backups" / "system" / path.name
    assert path.read_bytes() == made.read_bytes()
    assert db.engine.dialect.name == "postgresql"
