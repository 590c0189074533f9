"""Staleness is visible: `flask backup status`, GET /healthz and the admin dashboard banner."""

import datetime as dt
import json

import pytest
from flask import g

from app.backup import runlog, runs
from app.backup.runs import BackupRunFailed, run_backup
from app.backup.status import backup_status
from app.coordination.lock import backup_lock
from app.extensions import db
from app.models.types import utcnow
from tests.backupkit import FakeClock
from tests.schedulekit import closed_port, unreachable_app

HOUR = dt.timedelta(hours=1)


def backup_at(app, moment, trigger="schedule"):
    """Run a recorded backup as if the clock said ``moment``."""
    record, _ = run_backup(app.config, db.engine, trigger=trigger, clock=lambda: moment)
    return record


def fail_a_run(app):
    """Run a backup against a database that is not there (same data dir)."""
    broken = unreachable_app(app.config["STINKY_DATA_DIR"])
    with broken.app_context(), pytest.raises(BackupRunFailed):
        run_backup(broken.config, db.engine, trigger="schedule")
    with broken.app_context():
        db.engine.dispose()


def status(runner):
    """Run `flask backup status --json`; return (exit code, JSON, stderr)."""
    result = runner.invoke(args=["backup", "status", "--json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def healthz(client):
    response = client.get("/healthz")
    return response.status_code, response.get_json()


def test_health_turns_stale_past_the_max_age_and_back_after_a_good_run(app, make):
    assert app.config["BACKUP_MAX_AGE"] == 26 * 3600
    make.site()
    clock = FakeClock()
    made = clock.now
    backup_at(app, made)
    clock.now = made + 25 * HOUR
    assert backup_status(app.config, clock=clock).ok
    clock.now = made + 26 * HOUR + dt.timedelta(seconds=1)
    health = backup_status(app.config, clock=clock)
    assert not health.ok
    assert [p.code for p in health.problems] == ["stale"]
    assert "last confirmed 26.0 h ago, more than the 26 h allowed" in health.problems[0].message
    backup_at(app, clock.now)  # nothing changed: the run confirms the newest backup
    assert backup_status(app.config, clock=clock).ok


def test_status_and_healthz_say_stale_when_the_newest_backup_is_too_old(app, make, runner, client):
    make.site()
    backup_at(app, utcnow() - 27 * HOUR)

    code, data, stderr = status(runner)
    assert code == 1
    assert not data["ok"]
    assert data["last_run"]["outcome"] == "ok"
    assert data["next_run"]
    assert "STALE: the newest good backup" in stderr
    assert "27.0 h ago, more than the 26 h allowed" in stderr

    code, body = healthz(client)
    assert code == 503
    assert body["ok"] is False
    assert body["status"] == "stale"
    assert body["reason"] == "the newest good backup is 27.0 h old (limit 26 h)"
    assert body["last_run"]["outcome"] == "ok"

    backup_at(app, utcnow(), trigger="cli")
    code, data, stderr = status(runner)
    assert (code, data["ok"], stderr) == (0, True, "")
    code, body = healthz(client)
    assert code == 200
    assert body["ok"] is True
    assert body["reason"] is None
    assert body["newest_backup"]["id"] == data["newest"]["id"]


def test_a_failed_run_makes_everything_unhealthy_until_a_good_run(app, make, runner, client):
    make.site()
    backup_at(app, utcnow())
    fail_a_run(app)

    code, data, stderr = status(runner)
    assert code == 1
    assert data["stale"] is False  # the backup itself is fresh...
    assert data["last_run"]["outcome"] == "failed"  # ...but the last run failed
    assert data["last_run"]["reason"] == runs.DATABASE_UNREACHABLE
    assert "FAILING: the last backup run (schedule," in stderr
    assert "failed: database unreachable: " in stderr

    code, body = healthz(client)
    assert code == 503
    assert body["status"] == "last-run-failed"
    assert body["reason"] == "the last backup run failed (database unreachable)"
    assert body["last_run"] == {
        "outcome": "failed",
        "reason": "database unreachable",
        "started_at": data["last_run"]["started_at"],
        "ended_at": data["last_run"]["ended_at"],
    }

    backup_at(app, utcnow())
    assert status(runner)[0] == 0
    assert healthz(client)[0] == 200
    code, data, _ = status(runner)
    assert data["last_failure"]["reason"] == runs.DATABASE_UNREACHABLE  # still shown, not alarming


def test_a_skipped_run_neither_fails_nor_confirms(app, make):
    make.site()
    clock = FakeClock()
    backup_at(app, clock.now)
    clock.advance(hours=20)
    with backup_lock(app.config, "restore"), pytest.raises(runs.BackupLocked):
        run_backup(app.config, db.engine, trigger="schedule", clock=clock)
    health = backup_status(app.config, clock=clock)
    assert health.ok
    assert health.last_run["outcome"] == "skipped"
    clock.advance(hours=7)  # a lock that never frees shows up as staleness
    assert [p.code for p in backup_status(app.config, clock=clock).problems] == ["stale"]


def test_no_backup_at_all_is_unhealthy(app, client):
    code, body = healthz(client)
    assert code == 503
    assert body == {
        "ok": False,
        "status": "no-backup",
        "newest_backup": None,
        "last_run": None,
        "reason": "there is no good backup",
    }


def test_healthz_needs_no_login_and_tells_no_secrets(app, make, client):
    site = make.site(subdomain="secret-camp", title="Secret Camp")
    make.page(site, title="Private page")
    backup_at(app, utcnow())
    fail_a_run(app)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    for secret in (app.config["STINKY_DATA_DIR"], "secret-camp", "Private", "127.0.0.1", "pymysql"):
        assert secret not in text
    assert set(response.get_json()) == {"ok", "status", "newest_backup", "last_run", "reason"}


def dashboard(login_as, user):
    """The dashboard as ``user`` sees it."""
    # The `app` fixture keeps an app context pushed, which requests reuse, and
    # Flask-Login caches the user in it: forget the previous request's user.
    g.pop("_login_user", None)
    return login_as(user).get("/admin/").get_data(as_text=True)


def test_only_global_admins_see_the_banner_and_only_when_backups_need_attention(
    app, make, login_as
):
    admin = make.user(admin=True)
    owner = make.user()
    make.site(owner=owner)
    backup_at(app, utcnow())
    assert 'data-banner="backups"' not in dashboard(login_as, admin)

    fail_a_run(app)
    page = dashboard(login_as, admin)
    assert 'data-banner="backups"' in page
    assert "FAILING: the last backup run" in page
    assert "database unreachable" in page
    assert 'data-banner="backups"' not in dashboard(login_as, owner)

    backup_at(app, utcnow())
    assert 'data-banner="backups"' not in dashboard(login_as, admin)


def test_a_run_killed_midway_is_failing_until_the_next_run(app, make):
    from tests.processes import dead_pid

    make.site()
    clock = FakeClock()
    backup_at(app, clock.now)
    clock.advance(days=1)
    start = runlog.start_run(app.config, "schedule", clock=clock)
    runlog.append_record(app.config, {**start, "run": "killed", "pid": dead_pid()})
    health = backup_status(app.config, clock=clock)
    assert [p.code for p in health.problems] == ["last-run-failed"]
    assert "did not finish: interrupted" in health.problems[0].message
    backup_at(app, clock.now)
    assert backup_status(app.config, clock=clock).ok


def test_status_and_healthz_answer_with_the_database_and_the_broker_down(app, make):
    make.site()
    backup_at(app, utcnow())
    down = unreachable_app(
        app.config["STINKY_DATA_DIR"], CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port()}/0"
    )
    result = down.test_cli_runner().invoke(args=["backup", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["last_run"]["outcome"] == "ok"
    response = down.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["last_run"]["outcome"] == "ok"
