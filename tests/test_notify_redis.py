"""Hosts that share only Redis (BACKUP_LOCK_URL) share the record of what was told: a problem is
told once whichever host checks, and a web host that holds no backups tells restores only."""

import datetime as dt

import pytest

from app.backup import notify
from app.backup.notify.store import RedisStore
from app.backup.runs import run_backup
from app.extensions import db
from tests.backupkit import FakeClock
from tests.workers import REDIS_URL, forget_prefix, new_prefix

pytestmark = pytest.mark.integration


@pytest.fixture
def hosts(make_app, tmp_path, hook):
    """A worker host and a web host with data dirs of their own, one Redis, one webhook."""
    prefix = new_prefix()
    shared = {"BACKUP_LOCK_URL": REDIS_URL, "BACKUP_LOCK_PREFIX": prefix, "NOTIFY_URLS": hook.url()}
    worker = make_app(data_dir=tmp_path / "worker-host", **shared)
    web = make_app(data_dir=tmp_path / "web-host", **shared)
    yield worker, web
    forget_prefix(prefix)


def test_a_problem_is_told_once_whichever_host_checks(hosts, make, hook):
    worker, web = hosts
    clock = FakeClock()
    with worker.app_context():
        make.site()
        run_backup(worker.config, db.engine, trigger="schedule", clock=clock)
    clock.advance(hours=30)
    assert [len(notify.check(app.config, clock=clock).sent) for app in (worker, web)] == [1, 0]
    clock.advance(hours=1)
    assert [len(notify.check(app.config, clock=clock).sent) for app in (web, worker)] == [0, 0]
    assert [t.split(" (")[0] for t in hook.titles] == ["StinkyKitty backups: STALE"]
    assert set(RedisStore(web.config).read()["open"]) == {"stale"}  # the web did not clear it


def test_one_host_checking_holds_off_the_other(hosts, hook):
    worker, web = hosts
    with RedisStore(worker.config).checking() as state:
        assert state is not None
        assert notify.check(web.config) is None
    assert notify.check(web.config) is not None


def test_a_restore_on_the_web_host_is_told_once(hosts, hook):
    worker, web = hosts
    moment = dt.datetime(2026, 3, 1, 12, 0)
    event = {
        "outcome": "failed",
        "site": "lakeside",
        "backup_id": "stinkykitty-x",
        "started_by": "a@example.org on the backups page",
        "error": "boom",
    }
    notify.report_restore(web.config, event, clock=lambda: moment)
    notify.check(worker.config)
    notify.check(web.config)
    assert hook.titles == ["StinkyKitty: restore of site lakeside failed"]
    assert hook.posts[0]["message"].endswith("failed at 2026-03-01 12:00 UTC: boom")
