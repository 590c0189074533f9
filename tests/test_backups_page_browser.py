"""The backups page in a real Chromium, against a served app and a real worker on Redis."""

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from app.backup import catalog, webjobs
from app.extensions import db
from app.models import Site
from app.models.types import utcnow
from tests.backupkit import FakeClock
from tests.factories import PASSWORD
from tests.sitekit import build_camp, snapshot
from tests.workers import app_worker

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Set to a folder (e.g. docs) to keep a screenshot of the page (docs/backups-page.png).
SCREENSHOT_DIR = os.environ.get("BACKUPS_SCREENSHOT_DIR")
DONE = "#job-list li[data-kind={kind}][data-state={state}]"
WAIT = 90_000


def _log_in(page, base, user):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _camps(make):
    admin = make.user(admin=True, email="root@camps.example")
    lakeside = build_camp(make, "lakeside")
    pinecrest = build_camp(make, "pinecrest")
    return admin, lakeside.id, pinecrest.id


def test_back_up_verify_download_and_roll_back_one_site(served, browser, make, tmp_path):
    app, queue, base = served
    admin, lakeside, pinecrest = _camps(make)
    page = browser.new_page(accept_downloads=True, viewport={"width": 1000, "height": 900})
    _log_in(page, base, admin)
    page.click("#backups-link")
    assert page.inner_text("h1") == "Backups"
    assert "Backups need attention" in page.inner_text("#verdict")  # none made yet

    with app_worker(app, queue, tmp_path / "worker.log") as worker:
        # Back up now: the page follows the job, then shows the new backup.
        page.click("#backup-now")
        page.wait_for_selector("#job-box:not([hidden])")
        page.wait_for_selector(DONE.format(kind="backup", state="done"), timeout=WAIT)
        assert "Backups are healthy" in page.inner_text("#verdict"), worker.output()
        backup_id = page.get_attribute("article.backup", "data-backup")
        assert page.inner_text("#fact-last-run").startswith("ok (web, ")
        assert f"Backup {backup_id} made" in page.inner_text("#job-list")

        # Verify it.
        page.click(f"article[data-backup={backup_id}] button.verify")
        page.wait_for_selector(DONE.format(kind="verify", state="done"), timeout=WAIT)
        assert page.inner_text(f"article[data-backup={backup_id}] .verification").startswith(
            "intact"
        )

        # Download it after confirming the password; the bytes are the backup's.
        page.click(f"article[data-backup={backup_id}] a.download-sudo")
        page.fill("input[name=password]", PASSWORD)
        page.click("#sudo-confirm")
        link = page.locator(f"article[data-backup={backup_id}] a.download")
        url = link.get_attribute("href")
        with page.expect_download() as download_info:
            link.click()
        saved = tmp_path / "downloaded.tar.gz"
        download_info.value.save_as(saved)
        headers = page.request.get(f"{base}{url}").headers
        on_disk = catalog.backup_path(app.config, backup_id).read_bytes()
        expected = hashlib.sha256(on_disk).hexdigest()
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == expected
        assert headers["x-checksum-sha256"] == expected
        assert int(headers["content-length"]) == len(on_disk)

        # Both sites change; lakeside is rolled back, pinecrest keeps its change.
        site = db.session.get(Site, lakeside)
        site.title = "Broken by mistake"
        make.page(db.session.get(Site, pinecrest), slug="kept")
        db.session.commit()
        neighbour = snapshot(app.config, [pinecrest])

        page.click(f"article[data-backup={backup_id}] a.rollback")
        page.select_option("#site-pick", "lakeside")
        page.click("#site-show")
        assert page.inner_text("#then-pages") == "3"
        page.fill("#rollback-confirm", "lakeside")
        page.click("#rollback-button")
        page.wait_for_selector(DONE.format(kind="rollback", state="done"), timeout=WAIT)
        assert "Site lakeside rolled back" in page.inner_text("#job-list")

    db.session.remove()
    assert db.session.get(Site, lakeside).title == "Camp lakeside ☀"
    assert snapshot(app.config, [pinecrest]) == neighbour


def test_back_up_now_without_javascript(served, browser, make, tmp_path):
    app, queue, base = served
    admin, _lakeside, _pinecrest = _camps(make)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _log_in(page, base, admin)
    page.goto(f"{base}/admin/backups")
    page.click("#backup-now")  # a plain form post, answered by a redirect
    assert "Started" in page.inner_text(".flash")
    page.click("#backup-now")  # a second click shows the same job
    assert "already running" in page.inner_text(".flash")
    assert page.locator("#job-list li").count() == 1
    with app_worker(app, queue, tmp_path / "worker.log") as worker:
        # The page refreshes itself (meta refresh) while the job runs.
        page.wait_for_selector(DONE.format(kind="backup", state="done"), timeout=WAIT)
        assert page.locator("article.backup").count() == 1, worker.output()
    context.close()


PHONE = {"width": 390, "height": 844}


def test_the_backups_page_fits_a_390_px_screen(served, browser, make, tmp_path):
    app, _queue, base = served
    admin, _lakeside, _pinecrest = _camps(make)
    from app.backup.runs import run_backup

    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    job = webjobs.new_job(app.config, "verify", admin.id, backup_id=outcome.backup_id)
    webjobs.run_job(app.config, db.engine, job["id"])
    page = browser.new_page(viewport=PHONE)
    _log_in(page, base, admin)
    widths = {}
    page.goto(f"{base}/admin/backups")
    widths["backups"] = page.evaluate("document.documentElement.scrollWidth")
    page.goto(f"{base}/admin/backups/{outcome.backup_id}/sites?site=lakeside")
    widths["sites"] = page.evaluate("document.documentElement.scrollWidth")
    page.goto(f"{base}/admin/backups/confirm-password")
    widths["password"] = page.evaluate("document.documentElement.scrollWidth")
    assert widths == {"backups": 390, "sites": 390, "password": 390}
    if SCREENSHOT_DIR:
        page.set_viewport_size({"width": 1000, "height": 900})
        page.goto(f"{base}/admin/backups")
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "backups-page.png"), full_page=True)


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE])
def test_a_fresh_install_reads_plainly(served, browser, make, viewport):
    app, _queue, base = served
    admin = make.user(admin=True, email="root@camps.example")
    page = browser.new_page(viewport=viewport)
    _log_in(page, base, admin)
    page.goto(f"{base}/admin/backups")
    verdict = page.inner_text("#verdict")
    assert "Backups need attention" in verdict
    assert app.config["STINKY_DATA_DIR"] not in page.content()  # no server path
    assert "`" not in page.inner_text("main")  # commands are shown as code, not in backticks
    assert page.inner_text("#verdict .problems code") == "flask backup create"
    problem_color = page.eval_on_selector("#verdict .problems li", "e => getComputedStyle(e).color")
    for fact in ("#fact-free", "#fact-next-run"):
        color = page.eval_on_selector(fact, "e => getComputedStyle(e).color")
        assert color != problem_color, fact  # only what is wrong is in red
    runs = page.inner_text("#runs")
    assert "No run recorded yet." in runs
    assert "The last 0" not in runs


def test_verify_shows_its_progress_in_the_backups_card_on_a_phone(served, browser, make):
    app, _queue, base = served
    admin, _lakeside, _pinecrest = _camps(make)
    from app.backup.runs import run_backup

    clock = FakeClock(utcnow() - dt.timedelta(days=3))
    for _ in range(3):  # several cards, so the oldest is well below the top card
        run_backup(app.config, db.engine, trigger="cli", clock=clock, skip_unchanged=False)
        clock.advance(days=1)
    page = browser.new_page(viewport=PHONE)
    _log_in(page, base, admin)
    page.goto(f"{base}/admin/backups")
    card = page.locator("article.backup").last
    backup_id = card.get_attribute("data-backup")
    card.locator("button.verify").click()  # no worker runs: the job waits in the queue
    page.wait_for_selector(f"article[data-backup='{backup_id}'] #job-box:not([hidden])")
    in_view = page.eval_on_selector(
        "#job-box",
        "e => { const r = e.getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }",
    )
    assert in_view
