"""Someone is told: each problem of the status model reaches a real mail server and a real
webhook once when it appears, once more after NOTIFY_REPEAT, and once when it clears."""

import errno
import json

import pytest

from app.backup import notify, runlog
from app.backup.notify.store import FileStore
from app.backup.restore.journal import journal_path
from app.backup.runs import BackupRunFailed, run_backup
from app.backup.verification import verify_due
from app.extensions import db
from tests.backupkit import FakeClock, rot
from tests.notifykit import free_port
from tests.s3kit import CREDENTIALS, drop_bucket, new_bucket
from tests.support.archives import newer_copy
from tests.support.web import login


@pytest.fixture
def app(make_app, mail, hook):
    """An app telling a real SMTP server and a real webhook, both on loopback."""
    app = make_app(NOTIFY_URLS=f"{mail.url()}, {hook.url()}")
    with app.app_context():
        yield app


def backup(app, clock, **options):
    return run_backup(app.config, db.engine, trigger="cli", clock=clock, **options)


def check(app, clock):
    return notify.check(app.config, clock=clock)


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/srv/backups/x.tmp")


def told(mail, hook):
    """The subjects the mail server got; the webhook got the same titles in the same order."""
    assert hook.titles == mail.subjects
    return mail.subjects


def test_a_failed_run_is_told_once_recalled_after_the_repeat_and_its_recovery_told(
    app,
    make,
    mail,
    hook,
    monkeypatch,
):
    clock = FakeClock()
    site = make.site()
    backup(app, clock)
    check(app, clock)
    assert told(mail, hook) == []  # healthy: nothing to tell

    clock.advance(hours=1)
    monkeypatch.setattr("app.backup.system.estimate_database_size", disk_full)
    with pytest.raises(BackupRunFailed):
        backup(app, clock)
    (subject,) = told(mail, hook)
    assert "FAILING" in subject
    body = mail.messages[0][1]
    failed = runlog.recent_runs(app.config)[0]
    assert failed["reason"] == "disk full"
    assert failed["error"] in body  # the run's one-line reason
    assert hook.posts[0]["type"] == "failure"

    for hours in (0, 1, 22):  # the next checks, up to just before NOTIFY_REPEAT
        clock.advance(hours=hours)
        check(app, clock)
    assert len(told(mail, hook)) == 1

    clock.advance(hours=1)  # 24 h since it was told
    check(app, clock)
    check(app, clock)
    assert len(told(mail, hook)) == 2
    assert "still FAILING" in mail.subjects[1]

    monkeypatch.undo()
    make.page(site, slug="after")
    record, outcome = backup(app, clock)
    check(app, clock)
    assert len(told(mail, hook)) == 3
    made = outcome.created_at.strftime("%Y-%m-%d %H:%M")
    assert mail.subjects[2] == (
        f"StinkyKitty backups recovered: backup {outcome.backup_id} made at {made} UTC"
    )
    assert "cleared: FAILING (the last backup run failed (disk full))" in mail.messages[2][1]
    assert hook.posts[2]["type"] == "success"
    assert "notify_error" not in record


def test_a_stale_season_is_told_by_the_check_alone(app, make, mail, hook):
    clock = FakeClock()
    make.site()
    backup(app, clock)
    clock.advance(hours=26)
    check(app, clock)
    assert told(mail, hook) == []
    clock.advance(minutes=15)
    check(app, clock)
    (subject,) = told(mail, hook)
    assert subject.startswith("StinkyKitty backups: STALE (the newest good backup is 26.2 h old")
    clock.advance(minutes=15)
    check(app, clock)
    assert len(told(mail, hook)) == 1


def test_rot_found_by_verification_is_told(app, make, mail, hook):
    clock = FakeClock()
    site = make.site()
    _, older = backup(app, clock)
    make.page(site, slug="two")
    clock.advance(hours=1)
    backup(app, clock)
    rot(older)
    check(app, clock)
    assert told(mail, hook) == []  # nobody looked yet
    verify_due(app.config, clock=clock)
    check(app, clock)
    (subject,) = told(mail, hook)
    assert subject.startswith("StinkyKitty backups: DAMAGED")
    assert older.backup_id in mail.messages[0][1]


def test_problems_that_appear_together_go_out_as_one_message(app, make, mail, hook):
    clock = FakeClock()
    make.site()
    _, only = backup(app, clock)
    rot(only)
    verify_due(app.config, clock=clock)
    check(app, clock)
    (subject,) = told(mail, hook)
    assert subject == "StinkyKitty backups: 2 problems"
    body = mail.messages[0][1]
    assert "STALE: no good backup" in body
    assert "DAMAGED:" in body


def test_an_offsite_failure_is_told_and_the_backup_still_succeeds(
    make_app,
    s3_server,
    make,
    mail,
    hook,
):
    bucket = new_bucket(s3_server)
    app = make_app(
        NOTIFY_URLS=hook.url(),
        BACKUP_STORAGE_URL=f"s3://{bucket}/nightly",
        BACKUP_STORAGE_ENDPOINT=s3_server,
        **CREDENTIALS,
    )
    drop_bucket(s3_server, bucket)  # the store answers, the bucket is gone
    clock = FakeClock()
    with app.app_context():
        make.site()
        record, _ = backup(app, clock)
    assert record["outcome"] == "ok"
    assert record["offsite"] == "failed"
    (title,) = hook.titles
    assert title.startswith("StinkyKitty backups: OFFSITE (the last off-site copy failed)")
    assert bucket in hook.posts[0]["message"]


def test_a_failed_delivery_never_fails_the_backup_is_recorded_and_retried(
    make_app,
    make,
    hook,
):
    dead = f"json://127.0.0.1:{free_port()}/nobody"
    app = make_app(NOTIFY_URLS=f"{dead} {hook.url()}")
    clock = FakeClock()
    with app.app_context():
        make.site()
        hook.failing = True
        _record, outcome = backup(app, clock)  # healthy: nothing to send yet
        assert outcome.created
        clock.advance(hours=27)
        check(app, clock)
        assert hook.posts == []
        state = FileStore(app.config).read()
        assert state["open"] == {}  # reached nobody: not told, so the next check tries again
        failure = state["last_failure"]
        assert {d["url"] for d in failure["deliveries"]} == {
            f"json://127.0.0.1:{dead.split(':')[2]}",
            f"json://127.0.0.1:{hook.port}/hook",
        }
        hook.failing = False
        clock.advance(minutes=15)
        check(app, clock)
        assert len(hook.posts) == 1
        assert set(FileStore(app.config).read()["open"]) == {"stale"}


def test_heartbeat_is_fetched_after_every_good_run_and_its_failure_kept_in_the_run(
    make_app,
    make,
    hook,
    monkeypatch,
):
    app = make_app(NOTIFY_HEARTBEAT_URL=hook.http_url("ping/abc"))
    clock = FakeClock()
    with app.app_context():
        make.site()
        backup(app, clock)
        backup(app, clock)  # unchanged: still a good run
        assert hook.gets == ["/ping/abc", "/ping/abc"]
        monkeypatch.setattr("app.backup.system.estimate_database_size", disk_full)
        with pytest.raises(BackupRunFailed):
            backup(app, clock, skip_unchanged=False)
        assert len(hook.gets) == 2  # a failed run pings nothing
        monkeypatch.undo()
        hook.failing = True
        record, _ = backup(app, clock, skip_unchanged=False)
        assert record["outcome"] == "ok"
        assert record["heartbeat_error"].startswith(f"heartbeat http://127.0.0.1:{hook.port}/…")
        assert runlog.recent_runs(app.config)[0]["heartbeat_error"] == record["heartbeat_error"]


def test_two_hosts_sharing_the_backups_tell_once(make_app, make, tmp_path, hook):
    data = tmp_path / "shared"
    first = make_app(data_dir=data, NOTIFY_URLS=hook.url())
    second = make_app(data_dir=data, NOTIFY_URLS=hook.url())
    clock = FakeClock()
    with first.app_context():
        make.site()
        backup(first, clock)
    clock.advance(hours=30)
    store = FileStore(first.config)
    with store.checking() as held:  # the first host is checking right now
        assert held is not None
        assert notify.check(second.config, clock=clock) is None
    results = [notify.check(app.config, clock=clock) for app in (first, second, first)]
    assert [len(r.sent) for r in results] == [1, 0, 0]
    assert len(hook.posts) == 1


def test_the_record_of_what_was_told_is_beside_the_backups(app, make, mail, hook):
    clock = FakeClock()
    make.site()
    backup(app, clock)
    clock.advance(hours=30)
    check(app, clock)
    record = json.loads((FileStore(app.config).folder / ".notifications.json").read_text())
    assert set(record["open"]) == {"stale"}
    assert record["last_message"]["title"] == mail.subjects[0]


def test_a_notification_that_fails_is_kept_in_the_run_record_and_shown_on_the_page(
    make_app, make, hook, monkeypatch
):
    app = make_app(NOTIFY_URLS=hook.url())
    hook.failing = True
    with app.app_context():
        admin = make.user(admin=True)
        make.site()
        monkeypatch.setattr("app.backup.system.estimate_database_size", disk_full)
        with pytest.raises(BackupRunFailed) as failure:
            backup(app, FakeClock())
        assert str(failure.value).startswith("disk full")  # the run's own failure, not ours
        noted = failure.value.record["notify_error"]
        assert noted.startswith(f"json://127.0.0.1:{hook.port}/hook: ")
        assert runlog.recent_runs(app.config)[0]["notify_error"] == noted
        client, _csrf = login(app, admin)
        page = client.get("/admin/backups").get_data(as_text=True)
    assert "notification not delivered: json://127.0.0.1:" in page
    assert 'id="notify-failure"' in page


def test_a_restore_whose_notification_fails_still_succeeds(app, make, runner, hook):
    make.site()
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    hook.failing = True
    result = runner.invoke(args=["backup", "restore", outcome.backup_id, "--yes"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Restored backup {outcome.backup_id}")
    failure = FileStore(app.config).read()["last_failure"]
    assert failure["title"] == "StinkyKitty: restore of the whole system finished"


def test_an_interrupted_restore_is_told_and_its_recovery_too(app, make, mail, hook):
    clock = FakeClock()
    make.site()
    backup(app, clock)
    journal = {
        "backup_id": "stinkykitty-2025-05-31-020000",
        "token": "t0",
        "pid": 1,
        "host": "elsewhere",
        "started_at": "2025-06-01T02:30:00",
    }
    journal_path(app.config).write_text(json.dumps(journal))
    check(app, clock)
    (subject,) = told(mail, hook)
    assert subject == (
        "StinkyKitty backups: RESTORE (an interrupted restore of "
        "stinkykitty-2025-05-31-020000 awaits recovery)"
    )
    journal_path(app.config).unlink()  # a process finished it
    check(app, clock)
    assert told(mail, hook)[1].startswith("StinkyKitty backups recovered: backup stinkykitty-")


def test_no_backup_this_app_can_restore_is_told(app, make, mail, hook, tmp_path):
    make.site()
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    newer_copy(app, tmp_path, outcome.path)
    outcome.path.unlink()
    notify.check(app.config)
    (subject,) = told(mail, hook)
    assert subject.startswith("StinkyKitty backups: UNRESTORABLE")
