"""Every restore is told, finished or failed, with who started it: the command line, the
backups page, or a user on their site's page."""

from pathlib import Path

import pytest

from app import get_celery
from app.backup import webjobs
from app.backup.runs import run_backup
from app.broker import prepare_celery_storage
from app.coordination.lock import backup_lock
from app.errors import BUSY
from app.exports.export import export_site
from app.exports.historyjobs import request_history_restore
from app.exports.restorejobs import confirm_job, receive_upload
from app.extensions import db
from tests.support.waiting import wait_for
from tests.workers import thread_worker


@pytest.fixture
def app(make_app, hook):
    app = make_app(NOTIFY_URLS=hook.url())
    with app.app_context():
        yield app


@pytest.fixture
def backed_up(app, make):
    """A site, its owner, a global admin and one good backup (nothing told yet)."""
    owner = make.user(email="owner@lakeside.example")
    admin = make.user(email="root@example.org", admin=True)
    site = make.site(owner=owner, subdomain="lakeside")
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    return site.id, owner.id, admin.id, outcome


def test_a_whole_system_restore_from_the_command_line_is_told(app, runner, hook, backed_up):
    *_, outcome = backed_up
    result = runner.invoke(args=["backup", "restore", outcome.backup_id, "--yes"])
    assert result.exit_code == 0, result.output
    (post,) = hook.posts
    assert post["title"] == "StinkyKitty: restore of the whole system finished"
    assert post["message"].startswith(
        f"The restore of the whole system from backup {outcome.backup_id}, "
        "started by the command line at "
    )
    assert post["type"] == "success"


def test_a_failed_whole_system_restore_is_told_with_its_error(app, runner, hook, backed_up):
    *_, outcome = backed_up
    with backup_lock(app.config, "backup"):  # a backup runs: the restore cannot start
        result = runner.invoke(args=["backup", "restore", outcome.backup_id, "--yes"])
    assert result.exit_code == BUSY, result.output
    (post,) = hook.posts
    assert post["title"] == "StinkyKitty: restore of the whole system failed"
    error = result.output.strip().splitlines()[-1].removeprefix("Error: ")
    assert error.startswith("cannot start the restore: a backup is running")
    assert post["message"].endswith(f": {error}")
    assert post["type"] == "failure"


def test_a_site_restore_from_the_command_line_is_told(app, runner, hook, backed_up):
    *_, outcome = backed_up
    args = ["backup", "restore", outcome.backup_id, "--site", "lakeside", "--yes"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert hook.titles == ["StinkyKitty: restore of site lakeside finished"]
    assert "started by the command line" in hook.posts[0]["message"]


def test_a_roll_back_from_the_backups_page_is_told_with_the_admin(app, hook, backed_up):
    _site, _owner, admin_id, outcome = backed_up
    job = webjobs.new_job(
        app.config, "rollback", admin_id, backup_id=outcome.backup_id, subdomain="lakeside"
    )
    db.session.remove()
    state = webjobs.run_job(app.config, db.engine, job["id"])
    assert state == "done"
    assert hook.titles == ["StinkyKitty: restore of site lakeside finished"]
    assert "started by root@example.org on the backups page" in hook.posts[0]["message"]

    job = webjobs.new_job(
        app.config, "rollback", admin_id, backup_id=outcome.backup_id, subdomain="nosuch"
    )
    assert webjobs.run_job(app.config, db.engine, job["id"]) == ("failed")
    assert hook.titles[1] == "StinkyKitty: restore of site nosuch failed"
    assert "holds no site 'nosuch'" in hook.posts[1]["message"]


def test_an_owner_restoring_their_site_from_a_file_is_told_by_the_worker(app, hook, backed_up):
    site_id, owner_id, *_ = backed_up
    export = export_site(app.config, site_id)
    with open(export.path, "rb") as upload:
        job = receive_upload(app.config, site_id, "lakeside", owner_id, upload)
    confirm_job(app.config, job["id"], allow_other_site=False)
    db.session.remove()
    celery_app = get_celery(app)
    prepare_celery_storage(celery_app)
    with thread_worker(celery_app):
        celery_app.tasks["stinkykitty.restore_site_from_export"].delay(job["id"])
        wait_for(lambda: hook.posts, what="the restore's notification")
    (post,) = hook.posts
    assert post["title"] == "StinkyKitty: restore of site lakeside finished"
    assert (
        "from an uploaded export file, started by owner@lakeside.example on the site's page"
        in (post["message"])
    )


def test_an_owner_restoring_a_version_from_the_site_history_is_told_by_the_worker(
    app, hook, backed_up
):
    site_id, owner_id, _admin, outcome = backed_up
    job = request_history_restore(app.config, site_id, owner_id, outcome.backup_id, {})
    db.session.remove()
    celery_app = get_celery(app)
    prepare_celery_storage(celery_app)
    with thread_worker(celery_app):
        celery_app.tasks["stinkykitty.restore_site_from_history"].delay(job["id"])
        wait_for(lambda: hook.posts, what="the restore's notification")
    (post,) = hook.posts
    assert post["title"] == "StinkyKitty: restore of site lakeside finished"
    assert (
        f"from backup {outcome.backup_id}, started by owner@lakeside.example on the site's page"
        in post["message"]
    )


def test_without_notify_urls_a_restore_tells_nobody_and_queues_nothing(
    make_app, make, runner, hook
):
    app = make_app()
    with app.app_context():
        make.site()
        _, outcome = run_backup(app.config, db.engine, trigger="cli")
        result = app.test_cli_runner().invoke(
            args=["backup", "restore", outcome.backup_id, "--yes"]
        )
        assert result.exit_code == 0, result.output
    assert hook.posts == []
    folder = Path(app.config["STINKY_DATA_DIR"], "backups", "system")
    assert not list(folder.glob(".notifications*"))
