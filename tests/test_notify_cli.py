"""``flask backup notify [--test]``, the backups page's notifications, and who runs the check:
beat's entry, cron, and the web process (at most every NOTIFY_CHECK_INTERVAL)."""

import datetime as dt
import json

import pytest

import celeryconfig
from app.backup.notify.store import FileStore
from app.backup.runs import run_backup
from app.blueprints.metrics import WEB_CHECK
from app.config import Config
from app.extensions import db
from app.models import User
from tests.backupkit import FakeClock
from tests.notifykit import free_port
from tests.support.web import login

SECRET = "s3cr3t-pass"


@pytest.fixture
def dead_url():
    """A webhook URL with credentials, on a loopback port nobody listens on."""
    return f"json://bob:{SECRET}@127.0.0.1:{free_port()}/hook"


@pytest.fixture
def app(make_app, mail, hook, dead_url):
    app = make_app(NOTIFY_URLS=f"{mail.url()},{hook.url()}  {dead_url}")
    with app.app_context():
        yield app


def test_test_sends_to_every_url_says_per_url_masked_and_exits_1_on_a_failure(
    app, runner, mail, hook, dead_url
):
    result = runner.invoke(args=["backup", "notify", "--test"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"delivered   mailto://127.0.0.1:{mail.port}/ops%40example.org"
    assert lines[1] == f"delivered   json://127.0.0.1:{hook.port}/hook"
    assert lines[2].startswith(f"FAILED      json://bob:****@127.0.0.1:{dead_url.split(':')[3]}")
    assert SECRET not in result.output
    assert mail.subjects == ["StinkyKitty backups: test notification"]
    assert hook.titles == ["StinkyKitty backups: test notification"]
    assert hook.posts[0]["type"] == "info"


def test_test_exits_0_when_every_url_got_it(make_app, hook):
    app = make_app(NOTIFY_URLS=hook.url())
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", "notify", "--test", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"url": f"json://127.0.0.1:{hook.port}/hook", "ok": True, "error": None}
    ]
    assert len(hook.posts) == 1


def test_without_notify_urls_the_command_says_so_and_exits_1(make_app):
    app = make_app()
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", "notify", "--test"])
    assert result.exit_code == 1
    assert "NOTIFY_URLS is not set" in result.output


def test_the_command_runs_the_check_from_cron(make_app, make, hook):
    app = make_app(NOTIFY_URLS=hook.url())
    with app.app_context():
        make.site()
        past = FakeClock(dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=30))
        run_backup(app.config, db.engine, trigger="cli", clock=past)
        runner = app.test_cli_runner()
        first = runner.invoke(args=["backup", "notify"])
        again = runner.invoke(args=["backup", "notify"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Sent: StinkyKitty backups: STALE")
    assert first.output.rstrip().endswith("(delivered to 1 of 1)")
    assert again.exit_code == 0
    assert again.output.startswith("Nothing new to tell")
    assert len(hook.posts) == 1


def test_beat_sends_the_check_every_interval():
    config = vars(Config(environ={"NOTIFY_CHECK_INTERVAL": "300"}))
    entry = celeryconfig.beat_schedule(config)["notify-check"]
    assert entry == {"task": "stinkykitty.notify_check", "schedule": dt.timedelta(seconds=300)}


@pytest.fixture
def healthy(app, make):
    """A site and a fresh backup: nothing to tell (the page's requests run the check too)."""
    make.site()
    run_backup(app.config, db.engine, trigger="cli")


def _page(app, user):
    client, csrf = login(app, user)
    return client, csrf, client.get("/admin/backups").get_data(as_text=True)


def test_the_page_shows_where_notifications_go_the_last_message_and_failures(
    app, healthy, make, mail, hook, dead_url
):
    admin = make.user(admin=True)
    _client, _csrf, page = _page(app, admin)
    assert f"mailto://127.0.0.1:{mail.port}/ops%40example.org" in page
    assert f"json://bob:****@127.0.0.1:{dead_url.split(':')[3]}" in page
    assert SECRET not in page
    assert "none sent yet" in page

    app.test_cli_runner().invoke(args=["backup", "notify", "--test"])
    _client, _csrf, page = _page(app, admin)
    assert "Last message: <strong>StinkyKitty backups: test notification</strong>" in page
    assert 'id="notify-failure"' in page
    assert "Not delivered" in page


def test_send_a_test_notification_from_the_page_is_for_global_admins_with_csrf(
    app, healthy, make, mail, hook
):
    admin, owner = make.user(admin=True), make.user()
    make.site(owner=owner)
    client, csrf, page = _page(app, db.session.get(User, owner.id))
    assert client.post("/admin/backups/notify-test", data={"csrf_token": csrf}).status_code == 404
    client, csrf, page = _page(app, admin)
    assert 'id="notify-test"' in page
    assert client.post("/admin/backups/notify-test").status_code == 400  # no CSRF token
    assert mail.messages == []
    answer = client.post("/admin/backups/notify-test", data={"csrf_token": csrf})
    assert answer.status_code == 303
    page = client.get("/admin/backups").get_data(as_text=True)
    assert f"Test notification delivered to json://127.0.0.1:{hook.port}/hook." in page
    assert "Test notification NOT delivered to json://bob:****@" in page
    assert mail.subjects == ["StinkyKitty backups: test notification"]


def test_the_web_process_checks_at_most_every_interval(make_app, make, hook):
    app = make_app(NOTIFY_URLS=hook.url())
    with app.app_context():
        make.site()
        past = FakeClock(dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=30))
        run_backup(app.config, db.engine, trigger="cli", clock=past)
    client = app.test_client()
    client.get("/healthz")  # no worker, no beat, no cron: the web process checks
    first = app.extensions[WEB_CHECK]["thread"]
    first.join()
    assert [t.split(" (")[0] for t in hook.titles] == ["StinkyKitty backups: STALE"]
    client.get("/healthz")
    assert app.extensions[WEB_CHECK]["thread"] is first  # not due again yet
    app.extensions[WEB_CHECK]["due"] = 0.0  # this process's interval is over...
    FileStore(app.config).save({**FileStore(app.config).read(), "open": {}})  # ...forgotten
    client.get("/healthz")
    app.extensions[WEB_CHECK]["thread"].join()
    assert len(hook.posts) == 1  # ...but another process checked less than an interval ago


def test_a_url_apprise_does_not_know_is_reported_not_sent(make_app):
    app = make_app(NOTIFY_URLS="nosuchservice://user:pw@127.0.0.1/x")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", "notify", "--test"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "FAILED      nosuchservice://… (not a URL Apprise knows): "
        "not a URL Apprise knows (see its documentation)"
    )
