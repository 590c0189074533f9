"""Kept backups are re-verified on a schedule; a damaged one is DAMAGED everywhere until deleted."""

import datetime as dt
import json
import os

import pytest

import celeryconfig
from app import get_celery
from app.backup import verification
from app.backup.status import backup_status
from app.backup.system import create_backup, delete_backup
from app.errors import DAMAGED
from app.extensions import db
from app.models.types import utcnow
from app.tasks.backups import verify_backups
from tests.backupkit import FakeClock, rot
from tests.schedulekit import unreachable_app
from tests.workers import REDIS_URL, forget_prefix, isolate, new_prefix, thread_worker, wait_result


def backups(app, make, count, clock=None):
    """Make ``count`` backups a day apart, each holding a stored (media) file; oldest first."""
    clock = clock or FakeClock(utcnow() - dt.timedelta(days=count - 1))
    site = make.site()
    made = []
    for _ in range(count):
        make.media(site, content=os.urandom(200_000), name="photo.jpg")
        made.append(create_backup(app.config, db.engine, clock=clock))
        clock.advance(days=1)
    return made


def test_bit_rot_is_found_and_turns_everything_unhealthy_until_deleted(app, make, runner, client):
    older, newer = backups(app, make, 2)
    assert backup_status(app.config).ok
    rot(older)
    assert runner.invoke(args=["backup", "status"]).exit_code == 0  # nobody has looked yet

    # The beat task, run in place by this app's Celery (a bare call would run it in the app of
    # whichever Celery app an earlier test made the default).
    done = get_celery(app).tasks[verify_backups.name]()
    assert {k: v["ok"] for k, v in done.items()} == {older.backup_id: False, newer.backup_id: True}
    assert done[newer.backup_id]["authenticated"] is True

    status = runner.invoke(args=["backup", "status"])
    assert status.exit_code == 1
    assert f"DAMAGED: backup {older.backup_id} failed verification" in status.stderr
    assert "1 good (1 damaged)" in status.stdout
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "damaged"
    listing = runner.invoke(args=["backup", "list"]).stdout
    assert f"{older.backup_id:<30} DAMAGED, found" in listing
    assert f"{newer.backup_id:<30} intact and authenticated" in listing
    data = json.loads(runner.invoke(args=["backup", "list", "--json"]).stdout)
    assert [d["verification"]["ok"] for d in data] == [True, False]

    delete_backup(app.config, older.backup_id)
    assert backup_status(app.config).ok
    assert runner.invoke(args=["backup", "status"]).exit_code == 0


def test_results_are_read_with_the_database_down(app, make):
    (older,) = backups(app, make, 1)
    rot(older)
    verification.verify_due(app.config)
    down = unreachable_app(app.config["STINKY_DATA_DIR"])
    result = down.test_cli_runner().invoke(args=["backup", "status", "--json"])
    assert result.exit_code == 1
    assert "damaged" in [p["code"] for p in json.loads(result.stdout)["problems"]]
    assert "never verified" not in down.test_cli_runner().invoke(args=["backup", "list"]).stdout


def test_cli_verify_records_its_result_like_the_schedule(app, make, runner):
    older, newer = backups(app, make, 2)
    assert runner.invoke(args=["backup", "verify", newer.backup_id]).exit_code == 0
    assert verification.read_results(app.config)[newer.backup_id]["ok"] is True
    assert older.backup_id not in verification.read_results(app.config)
    rot(older)
    every = runner.invoke(args=["backup", "verify", "--all"])
    assert every.exit_code == DAMAGED
    assert f"Backup {newer.backup_id} is intact" in every.stdout
    assert f"FAILED: {older.backup_id}" in every.stderr
    assert verification.read_results(app.config)[older.backup_id]["ok"] is False
    assert runner.invoke(args=["backup", "verify"]).exit_code == 2  # an id or --all


def test_each_run_keeps_to_its_budget_newest_first_and_everyone_within_a_week(app, make):
    made = [b.backup_id for b in backups(app, make, 6)]
    clock = FakeClock(dt.datetime(2025, 7, 1, 3, 30))
    ticks = iter(range(10_000))  # each verification "takes" one second

    def monotonic():
        return next(ticks)

    first = verification.verify_due(app.config, budget=2, clock=clock, monotonic=monotonic)
    assert list(first) == [made[-1], made[-2]]  # never verified: newest first
    last_seen = {}
    for day in range(14):
        clock.advance(days=1)
        done = verification.verify_due(app.config, budget=2, clock=clock, monotonic=monotonic)
        assert 1 <= len(done) <= 2
        for backup_id in done:
            last_seen[backup_id] = clock.now
        results = verification.read_results(app.config)
        assert day < 2 or all(
            not verification.verification_overdue(results, b, clock.now) for b in made
        ), "every backup verified within the last week"
    assert set(last_seen) == set(made)
    once = verification.verify_due(app.config, budget=0, clock=clock, monotonic=monotonic)
    assert len(once) == 1  # at least one per run, however small the budget


def test_the_verification_runs_daily_after_the_backup_unless_configured(app):
    def entry(**config):
        return celeryconfig.beat_schedule({**app.config, **config})["verify-backups"]

    default = entry()["schedule"]
    assert (default.hour, default.minute, default.day_of_week) == ({3}, {30}, set(range(7)))
    later = entry(BACKUP_SCHEDULE="15 23 * * *")["schedule"]
    assert (later.hour, later.minute) == ({0}, {45})
    own = entry(BACKUP_VERIFY_SCHEDULE="0 12 * * 0")["schedule"]
    assert (own.hour, own.minute, own.day_of_week) == ({12}, {0}, {0})
    assert entry()["task"] == verify_backups.name


@pytest.mark.integration
def test_the_verify_task_runs_on_a_real_worker_over_redis(make_app, make, tmp_path):
    prefix = new_prefix()
    app = make_app(CELERY_BROKER_URL=REDIS_URL, CELERY_RESULT_BACKEND=REDIS_URL)
    celery_app = get_celery(app)
    isolate(celery_app, prefix)
    try:
        with app.app_context():
            older, newer = backups(app, make, 2)
            rot(older)
            with thread_worker(celery_app, queues=[prefix]):
                done = wait_result(celery_app.tasks["stinkykitty.verify_backups"].delay())
            assert {k: v["ok"] for k, v in done.items()} == {
                older.backup_id: False,
                newer.backup_id: True,
            }
            assert verification.damaged_ids(app.config).keys() == {older.backup_id}
    finally:
        forget_prefix(prefix)
