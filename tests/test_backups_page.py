"""The backups page: who sees it, back up now, verify, download after a password, roll back."""

import json
import re
import tarfile

import pytest

from app.backup import verification, webjobs
from app.backup.catalog import backup_path, backups_dir
from app.backup.restore import upgrade
from app.backup.runlog import recent_runs
from app.backup.runs import run_backup
from app.extensions import db
from app.models import Site
from tests.factories import PASSWORD
from tests.migrations_extra import VERSIONS
from tests.sitekit import snapshot
from tests.support.archives import OLD_BACKUP_ID, OLDEST_BACKUP, newer_copy
from tests.support.camps import login_as_role
from tests.support.jobs import run_page_job
from tests.support.web import login

ROLES = ("anonymous", "editor", "site_admin", "owner", "global_admin")


def _routes(backup_id, csrf):
    """Every route of the page: (method, url, form data)."""
    return [
        ("GET", "/admin/backups", None),
        ("POST", "/admin/backups/run", {"csrf_token": csrf}),
        ("POST", f"/admin/backups/{backup_id}/verify", {"csrf_token": csrf}),
        ("GET", "/admin/backups/jobs/0123456789abcdef", None),
        ("GET", "/admin/backups/confirm-password", None),
        ("POST", "/admin/backups/confirm-password", {"csrf_token": csrf, "password": PASSWORD}),
        ("GET", f"/admin/backups/{backup_id}/download?token=x", None),
        ("GET", f"/admin/backups/{backup_id}/sites?site=lakeside", None),
        (
            "POST",
            f"/admin/backups/{backup_id}/rollback",
            {"csrf_token": csrf, "site": "lakeside", "confirm": "lakeside"},
        ),
    ]


ADMIN_ANSWERS = {
    "/admin/backups": 200,
    "/admin/backups/run": 303,
    "verify": 303,
    "jobs": 404,  # no such job: the route answers, the job does not exist
    "confirm-password": {"GET": 200, "POST": 303},
    "download": 403,  # a made-up token
    "sites": 200,
    "rollback": 303,
}


def _expected_for_admin(method, url):
    for key, answer in ADMIN_ANSWERS.items():
        if url == key or f"/{key}" in url:
            return answer[method] if isinstance(answer, dict) else answer
    raise AssertionError(url)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_global_admins_only(app, backup_camp, role):
    client, csrf = login_as_role(app, backup_camp, role)
    for method, url, data in _routes(backup_camp["backup"], csrf):
        response = client.open(url, method=method, data=data)
        if role == "global_admin":
            assert response.status_code == _expected_for_admin(method, url), url
        elif role == "anonymous":
            assert response.status_code == 302, url
            assert "/login" in response.headers["Location"]
        else:
            assert response.status_code == 404, url
            assert "<h1>Not found</h1>" in response.get_data(as_text=True), url
    jobs = webjobs.list_jobs(app.config)
    if role == "global_admin":
        assert sorted(j["kind"] for j in jobs) == ["backup", "rollback", "verify"]
    else:
        assert jobs == []  # nobody else started anything


@pytest.mark.parametrize("role", ["anonymous", "editor", "owner"])
def test_scripts_get_json_errors_and_nothing_starts(app, backup_camp, role):
    client, csrf = login_as_role(app, backup_camp, role)
    response = client.post(
        "/admin/backups/run", headers={"Accept": "application/json", "X-CSRFToken": csrf}
    )
    assert response.status_code == (401 if role == "anonymous" else 404)
    assert response.get_json()["error"]
    assert webjobs.list_jobs(app.config) == []


def test_dashboard_links_the_page_for_global_admins_only(app, backup_camp):
    admin, _ = login_as_role(app, backup_camp, "global_admin")
    owner, _ = login_as_role(app, backup_camp, "owner")
    assert 'href="/admin/backups"' in admin.get("/admin/").get_data(as_text=True)
    assert "/admin/backups" not in owner.get("/admin/").get_data(as_text=True)


def test_the_unhealthy_banner_links_the_page(make_app, make):
    app = make_app()
    with app.app_context():
        client, _ = login(app, make.user(admin=True))
        html = client.get("/admin/").get_data(as_text=True)
    assert "Backups need attention" in html  # no backup at all
    assert 'id="banner-backups-link"' in html
    assert 'href="/admin/backups"' in html


def test_page_shows_health_kept_backups_and_runs(app, backup_camp):
    client, _ = login_as_role(app, backup_camp, "global_admin")
    html = client.get("/admin/backups").get_data(as_text=True)
    assert "Backups are healthy" in html
    assert re.search(rf'id="fact-newest">{backup_camp["backup"]}, made \d+ s ago', html)
    assert re.search(r'id="fact-last-run">ok \(cli, ', html)
    assert re.search(r'id="fact-next-run">\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in ', html)
    assert re.search(r'id="fact-free">[\d.]+ [KMGT]?i?B', html)
    assert f'data-backup="{backup_camp["backup"]}"' in html
    assert "yes <span" in html  # restorable by this app
    assert 'Verified</dt><dd class="verification">never' in html
    assert f"flask backup restore {backup_camp['backup']}" in html
    assert html.count("<tr data-outcome=") == 1


def test_the_page_lists_the_last_20_runs(app, backup_camp):
    for _ in range(22):
        run_backup(app.config, db.engine, trigger="cli")  # unchanged: still a recorded run
    client, _ = login_as_role(app, backup_camp, "global_admin")
    html = client.get("/admin/backups").get_data(as_text=True)
    assert html.count('<tr data-outcome="unchanged">') == 20
    assert "The last 20 (at most 20)" in html


def _json_post(client, csrf, url, data=None):
    return client.post(
        url, data=data or {}, headers={"Accept": "application/json", "X-CSRFToken": csrf}
    )


def test_back_up_now_is_a_recorded_web_run_and_a_second_click_shows_it(app, backup_camp, make):
    make.page(
        db.session.get(Site, backup_camp["sites"]["lakeside"]), slug="new"
    )  # something changed
    client, csrf = login_as_role(app, backup_camp, "global_admin")
    first = _json_post(client, csrf, "/admin/backups/run").get_json()
    second = _json_post(client, csrf, "/admin/backups/run").get_json()
    assert first["state"] == "queued"
    assert first["already_running"] is False
    assert second["job_id"] == first["job_id"]
    assert second["already_running"] is True
    assert run_page_job(app, first["job_id"]) == "done"
    assert run_page_job(app, first["job_id"]) is None  # a second delivery does nothing
    status = client.get(first["status_url"]).get_json()
    assert status["state"] == "done"
    made = status["result"]["backup_id"]
    assert status["message"].startswith(f"Backup {made} made: ")
    last = recent_runs(app.config)[0]
    assert (last["trigger"], last["outcome"], last["backup_id"]) == ("web", "ok", made)
    third = _json_post(client, csrf, "/admin/backups/run").get_json()
    assert third["job_id"] != first["job_id"]  # none runs now: a new one starts


def test_back_up_now_while_the_lock_is_held_fails_saying_what_runs(app, backup_camp, make):
    from app.coordination.lock import backup_lock

    make.page(db.session.get(Site, backup_camp["sites"]["lakeside"]), slug="new")
    client, csrf = login_as_role(app, backup_camp, "global_admin")
    job = _json_post(client, csrf, "/admin/backups/run").get_json()
    with backup_lock(app.config, "restore"):
        assert run_page_job(app, job["job_id"]) == "failed"
    status = client.get(job["status_url"]).get_json()
    assert "a restore is running" in status["message"]
    assert recent_runs(app.config)[0]["outcome"] == "skipped"


def test_verify_records_its_result_and_the_page_shows_intact_or_damaged(app, backup_camp):
    client, csrf = login_as_role(app, backup_camp, "global_admin")
    url = f"/admin/backups/{backup_camp['backup']}/verify"
    job = _json_post(client, csrf, url).get_json()
    assert _json_post(client, csrf, url).get_json()["job_id"] == job["job_id"]
    assert run_page_job(app, job["job_id"]) == "done"
    assert verification.read_results(app.config)[backup_camp["backup"]]["ok"] is True  # recorded
    html = client.get("/admin/backups").get_data(as_text=True)
    assert 'class="verification">intact' in html
    assert "every checksum and the authentication tag match" in html
    assert f"Backup {backup_camp['backup']} is intact: " in html
    with tarfile.open(backup_path(app.config, backup_camp["backup"])) as tar:
        listed = len(tar.getnames())  # what `tar tf` lists: the count a person can check
    assert f"{listed} members, every checksum and the authentication tag match." in html
    progress = client.get(job["status_url"]).get_json()["progress"]
    assert (progress["done"], progress["total"]) == (listed, listed)

    path = backup_path(app.config, backup_camp["backup"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot in the middle of the archive
    path.write_bytes(bytes(data))
    job = _json_post(client, csrf, url).get_json()
    assert run_page_job(app, job["job_id"]) == "failed"
    assert verification.read_results(app.config)[backup_camp["backup"]]["ok"] is False
    html = client.get("/admin/backups").get_data(as_text=True)
    assert 'class="verification">DAMAGED' in html
    assert f"Backup {backup_camp['backup']} is DAMAGED: " in html
    assert "Backups need attention" in html  # the one status model counts it damaged


def test_the_page_shows_verifications_made_by_the_cli_too(app, backup_camp):
    assert (
        app.test_cli_runner().invoke(args=["backup", "verify", backup_camp["backup"]]).exit_code
        == 0
    )
    client, _ = login_as_role(app, backup_camp, "global_admin")
    html = client.get("/admin/backups").get_data(as_text=True)
    assert re.search(r'class="verification">intact <span class="muted">\(\d{4}-', html)
    assert webjobs.list_jobs(app.config) == []


def test_verify_of_an_unknown_backup_is_not_found(app, backup_camp):
    client, csrf = login_as_role(app, backup_camp, "global_admin")
    assert _json_post(client, csrf, "/admin/backups/../../etc/verify").status_code == 404
    missing = "/admin/backups/stinkykitty-2001-01-01-000000/verify"
    assert _json_post(client, csrf, missing).status_code == 404
    assert webjobs.list_jobs(app.config) == []


def test_roll_back_one_site_after_comparing_and_typing_its_subdomain(app, backup_camp, make):
    lakeside, pinecrest = backup_camp["sites"]["lakeside"], backup_camp["sites"]["pinecrest"]
    site = db.session.get(Site, lakeside)
    site.title = "Broken by mistake"
    make.page(site, slug="oops")
    make.page(db.session.get(Site, pinecrest), slug="kept")  # the neighbour changes too
    db.session.commit()
    before_rollback = snapshot(app.config, [pinecrest])
    client, csrf = login_as_role(app, backup_camp, "global_admin")

    page = client.get(f"/admin/backups/{backup_camp['backup']}/sites").get_data(as_text=True)
    assert '<option value="lakeside"' in page
    assert '<option value="pinecrest"' in page
    page = client.get(f"/admin/backups/{backup_camp['backup']}/sites?site=lakeside").get_data(
        as_text=True
    )
    assert 'id="then-pages">3<' in page
    assert 'id="now-pages">4<' in page
    assert 'id="then-media">3<' in page
    assert 'id="now-media">3<' in page
    assert f"flask backup restore {backup_camp['backup']}" in page

    url = f"/admin/backups/{backup_camp['backup']}/rollback"
    wrong = client.post(url, data={"csrf_token": csrf, "site": "lakeside", "confirm": "lake"})
    assert wrong.status_code == 303
    assert webjobs.list_jobs(app.config) == []
    absent = client.post(url, data={"csrf_token": csrf, "site": "nowhere", "confirm": "nowhere"})
    assert absent.status_code == 303
    assert webjobs.list_jobs(app.config) == []

    job = _json_post(client, csrf, url, {"site": "lakeside", "confirm": "lakeside"}).get_json()
    assert run_page_job(app, job["job_id"]) == "done"
    status = client.get(job["status_url"]).get_json()
    assert status["message"] == (
        f"Site lakeside rolled back to backup {backup_camp['backup']}: 3 pages, 3 media."
    )
    db.session.remove()
    assert db.session.get(Site, lakeside).title == "Camp lakeside ☀"
    assert snapshot(app.config, [pinecrest]) == before_rollback  # the neighbour is untouched


def test_a_broker_that_is_down_is_named_and_leaves_no_queued_job(make_app, make):
    app = make_app(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    with app.app_context():
        client, csrf = login(app, make.user(admin=True))
        html = client.get("/admin/backups").get_data(as_text=True)
        assert "The task broker is down" in html
        response = _json_post(client, csrf, "/admin/backups/run")
        assert response.status_code == 503
        assert "broker is down" in response.get_json()["error"]
        assert [j["state"] for j in webjobs.list_jobs(app.config)] == ["failed"]


def test_a_job_no_worker_takes_or_finishes_reads_failed(app, backup_camp):
    from datetime import timedelta

    from app.jobstore import JobStore
    from app.models import utcnow

    job = webjobs.new_job(app.config, "verify", 1, backup_id=backup_camp["backup"])
    later = utcnow() + timedelta(seconds=app.config["EXPORT_STUCK_AFTER"] + 1)
    stale = webjobs.read_job(app.config, job["id"], clock=lambda: later)
    assert (stale["state"], stale["error"]) == ("failed", webjobs.NEVER_TAKEN)
    assert webjobs.read_job(app.config, job["id"])["state"] == "queued"
    store = JobStore(webjobs.jobs_dir(app.config), folders=False)
    with store.claim(job["id"]):  # a worker runs it
        job.update(state="running", started_at=job["created_at"])
        webjobs.write_job(app.config, job)
        assert webjobs.read_job(app.config, job["id"], clock=lambda: later)["state"] == "running"
        much_later = utcnow() + webjobs.RUNNING_LIMIT + timedelta(minutes=1)
        stuck = webjobs.read_job(app.config, job["id"], clock=lambda: much_later)
        assert (stuck["state"], stuck["error"]) == ("failed", webjobs.STUCK)
        assert webjobs.read_job(app.config, job["id"])["state"] == "running"
    # The worker is gone (its claim's lock with it): the job reads failed at once, for good.
    assert webjobs.read_job(app.config, job["id"])["state"] == "failed"
    stored = webjobs.jobs_dir(app.config) / f"{job['id']}.json"
    assert json.loads(stored.read_text())["error"] == webjobs.STUCK


def test_a_form_post_without_the_csrf_token_is_refused(app, backup_camp):
    client, _ = login_as_role(app, backup_camp, "global_admin")
    assert client.post("/admin/backups/run").status_code == 400
    assert (
        client.post("/admin/backups/confirm-password", data={"password": PASSWORD}).status_code
        == 400
    )
    assert webjobs.list_jobs(app.config) == []


def test_the_page_says_which_backups_restore_through_migrations_or_not(make_app, make, tmp_path):
    app = make_app(MIGRATION_EXTRA_VERSIONS=[VERSIONS])
    with app.app_context():
        upgrade.migrate(app.config, db.engine, "heads")
        backups_dir(app.config).mkdir(parents=True)
        (backups_dir(app.config) / f"{OLD_BACKUP_ID}.tar.gz").write_bytes(
            OLDEST_BACKUP.read_bytes()
        )
        newer = newer_copy(app, tmp_path, OLDEST_BACKUP)
        client, _ = login(app, make.user(admin=True))
        html = client.get("/admin/backups").get_data(as_text=True)
    cells = dict(
        re.findall(
            r'data-backup="([^"]+)">.*?<dd class="restorable">([^<]+)<', html, flags=re.DOTALL
        )
    )
    assert cells[OLD_BACKUP_ID].strip() == "through migrations (6 steps)"
    assert cells[newer].strip() == "no: made by a newer StinkyKitty"


def test_back_up_now_while_the_nightly_backup_runs_points_at_it(app, backup_camp):
    from app.coordination.lock import backup_lock

    client, csrf = login_as_role(app, backup_camp, "global_admin")
    with backup_lock(app.config, "backup"):
        response = _json_post(client, csrf, "/admin/backups/run")
        html = client.get("/admin/backups").get_data(as_text=True)
    assert response.status_code == 409
    assert response.get_json()["error"].startswith("A backup is running now (since ")
    assert response.get_json()["running"]["operation"] == "backup"
    assert re.search(r'id="fact-running">a backup since \d{4}-', html)
    assert webjobs.list_jobs(app.config) == []


def test_the_page_shows_a_run_in_progress_and_one_interrupted(app, backup_camp):
    from app.backup.runlog import runs_path, start_run

    start_run(app.config, "beat")  # this process: running, with no end and no duration yet
    gone = start_run(app.config, "cli")
    lines = runs_path(app.config).read_text().splitlines()
    died = json.dumps({**gone, "pid": 999_999_999})  # a process that is gone: interrupted
    runs_path(app.config).write_text("\n".join([*lines[:-1], died]) + "\n")
    client, _ = login_as_role(app, backup_camp, "global_admin")
    response = client.get("/admin/backups")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<tr data-outcome="running">' in html
    assert '<tr data-outcome="interrupted">' in html
