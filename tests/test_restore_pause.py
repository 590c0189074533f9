"""Workers pause for a restore: tasks started during it retry later; it waits for running ones.

With a real worker on the real Redis and on the embedded broker, an export
requested while a restore holds the maintenance flag is retried, and runs
once the restore is done, on the restored data.
"""

import json
import tarfile
import threading

import pytest
import sqlalchemy as sa

from app import get_celery
from app.backup.errors import PausedForRestore, TasksStillRunning
from app.backup.system import create_backup, restore_backup
from app.broker import prepare_celery_storage
from app.coordination.maintenance import maintenance_state
from app.coordination.running import running_tasks, site_data_work
from app.exports.export import exports_dir
from app.exports.jobs import request_export_job
from app.extensions import db
from app.models import Block, ExportJob, utcnow
from tests.backupkit import full_state
from tests.support.waiting import wait_for
from tests.workers import (
    CeleryProcess,
    app_worker,
    purge_queue,
    redis_app_config,
    unique_queue,
    use_queue,
)


def _words(site_id):
    """Return the text of the site's first block, as the database has it now."""
    db.session.remove()
    block = db.session.scalar(sa.select(Block).order_by(Block.id))
    return block.data["html"]


def _set_words(html):
    block = db.session.scalar(sa.select(Block).order_by(Block.id))
    block.data = {"html": html}
    db.session.commit()


def _export_during_restore(app, make, log_text):
    """Queue an export while a restore runs; return the pages it exported after the restore."""
    owner = make.user()
    site = make.site(owner=owner, subdomain="riverbend")
    make.page(site, slug="home", blocks=[("text", {"html": "<p>restored words</p>"})])
    job, _ = request_export_job(db.session, site.id, owner.id, stuck_after=3600)
    job_id = job.id
    backup_id = create_backup(app.config, db.engine, skip_unchanged=False).backup_id
    _set_words("<p>live words</p>")
    task = get_celery(app).tasks["stinkykitty.export_site"]
    sent = []

    def progress(phase, done, total):
        if phase == "load" and not sent:  # inside the restore, the flag set
            assert maintenance_state(app.config) is not None
            sent.append(task.delay(job_id))
            wait_for(
                lambda: f"[{sent[0].id}] retry" in log_text(),
                timeout=90,
                interval=0.05,
                what="the worker to retry",
            )
            db_job = db.session.get(ExportJob, job_id)
            assert db_job.state == "queued"  # it did not run

    restore_backup(app.config, db.engine, backup_id, progress=progress)
    restored_at = utcnow()
    assert sent
    assert _words(site.id) == "<p>restored words</p>"

    def finished():
        db.session.remove()
        found = db.session.get(ExportJob, job_id)
        return found if found.state in ("ready", "failed") else None

    done = wait_for(finished, timeout=90, interval=0.05, what="the export to run after the restore")
    assert done.state == "ready", (done.error, log_text()[-3000:])
    assert done.started_at >= restored_at
    with tarfile.open(exports_dir(app.config) / done.filename) as tar:
        return json.load(tar.extractfile("pages.json"))


@pytest.mark.integration
def test_an_export_requested_during_a_restore_runs_after_it_on_redis(make_app, make, tmp_path):
    app = make_app(**redis_app_config())
    queue = unique_queue()
    use_queue(app, queue)
    with app.app_context():
        worker = app_worker(app, queue, tmp_path / "worker.log")
        worker.env["TASK_RETRY_DURING_RESTORE"] = "1"
        try:
            worker.start()
            pages = _export_during_restore(app, make, worker.output)
        finally:
            worker.stop()
            purge_queue(queue)
    assert pages[0]["blocks"][0]["data"] == {"html": "<p>restored words</p>"}


@pytest.mark.integration
def test_an_export_requested_during_a_restore_runs_after_it_on_the_embedded_broker(
    make_app, make, tmp_path
):
    data_dir = tmp_path / "data"
    app = make_app(data_dir=data_dir)
    prepare_celery_storage(get_celery(app))
    log = tmp_path / "worker.log"
    environ = {
        "STINKY_DATA_DIR": data_dir,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "BACKUP_KEY": app.config["BACKUP_KEY"],
        "TASK_RETRY_DURING_RESTORE": "1",
    }
    with app.app_context(), CeleryProcess(log, environ, pool="prefork"):
        pages = _export_during_restore(app, make, lambda: log.read_text(errors="replace"))
    assert pages[0]["blocks"][0]["data"] == {"html": "<p>restored words</p>"}


def _hold_task(app, name, release):
    """Run a fake task body in a thread until ``release`` is set; return once it is registered."""
    registered = threading.Event()

    def body():
        with app.app_context(), site_data_work(app.config, name, "t-1"):
            registered.set()
            release.wait(30)

    thread = threading.Thread(target=body)
    thread.start()
    registered.wait(10)
    return thread


def test_a_restore_waits_for_a_running_task_then_proceeds(app, make):
    make.site(subdomain="before")
    backup_id = create_backup(app.config, db.engine, skip_unchanged=False).backup_id
    make.site(subdomain="after")
    release = threading.Event()
    thread = _hold_task(app, "stinkykitty.export_site", release)
    seen = []

    def progress(phase, done, total):
        if phase == "wait":
            seen.append((done, total))
            release.set()  # the task finishes while the restore waits

    restore_backup(app.config, db.engine, backup_id, progress=progress)
    thread.join()
    assert seen[0] == (0, 1)
    assert seen[-1] == (1, 1)
    assert running_tasks(app.config) == []


def test_a_restore_refuses_listing_what_runs_when_tasks_do_not_finish(make_app, make):
    app = make_app(RESTORE_WAIT_FOR_TASKS=0.3)
    with app.app_context():
        make.site(subdomain="before")
        backup_id = create_backup(app.config, db.engine, skip_unchanged=False).backup_id
        make.site(subdomain="after")
        state = full_state(app.config)
        release = threading.Event()
        thread = _hold_task(app, "stinkykitty.export_site", release)
        try:
            with pytest.raises(TasksStillRunning) as refused:
                restore_backup(app.config, db.engine, backup_id)
        finally:
            release.set()
            thread.join()
        message = str(refused.value)
        assert message.startswith("cannot restore: 1 task(s) still running after 0.3 s: ")
        assert "stinkykitty.export_site (id t-1, pid " in message
        assert "nothing was changed" in message
        assert full_state(app.config) == state
        assert maintenance_state(app.config) is None


def test_a_task_starting_during_a_restore_is_told_to_pause_and_leaves_no_entry(app):
    from app.coordination.lock import backup_lock
    from app.coordination.maintenance import enter_maintenance, leave_maintenance

    with backup_lock(app.config, "restore"):
        enter_maintenance(app.config, "restoring x")
        try:
            with (
                pytest.raises(PausedForRestore, match="restoring x"),
                site_data_work(app.config, "stinkykitty.export_site", "t-2"),
            ):
                raise AssertionError("the task ran during the restore")
        finally:
            leave_maintenance(app.config)
    assert running_tasks(app.config) == []
    with site_data_work(app.config, "stinkykitty.export_site", "t-3"):
        assert [r["task_id"] for r in running_tasks(app.config)] == ["t-3"]
