"""The whole "Download my site" flow in a real Chromium, against a served app and a real worker."""

import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from app.exports.jobs import fail_job, request_export_job, run_export_job
from app.extensions import db
from app.models import ExportJob, utcnow
from tests.factories import PASSWORD
from tests.support.browser import log_in_and_open_site
from tests.workers import app_worker

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Set to a folder (e.g. docs) to keep the screenshot of the finished export for the README.
SCREENSHOT_DIR = os.environ.get("EXPORT_SCREENSHOT_DIR")


def _camp_site(app, make):
    """Return (owner, site, photos): a small camp site, plus one slow file to watch progress."""
    owner = make.user(email="anna@lakeside.example")
    site = make.site(owner=owner, subdomain="lakeside", title="Lakeside Summer Camp")
    for n, slug in enumerate(("home", "program", "sign-up")):
        make.page(
            site,
            slug=slug,
            title=slug.replace("-", " ").title(),
            blocks=[("hero", {"title": f"Welcome {n}"}), ("text", {"html": f"<p>{slug}</p>"})],
        )
    make.menu_item(site, "Home", "/", 0)
    photos = [
        make.media(site, content=os.urandom(200_000 + n), name=f"lake-{n}.jpg", mime="image/jpeg")
        for n in range(3)
    ]
    # A large, sparse, highly compressible file keeps the export running for a couple of
    # seconds, so that the progress shown while it runs can be seen.
    slow = make.media(site, content=b"", name="blank-form.txt", mime="text/plain")
    os.truncate(f"{app.config['STINKY_DATA_DIR']}/uploads/{slow.relative_path}", 640 << 20)
    return owner, site, photos


def _read_members(archive, wanted):
    """Return {name: bytes} of the ``wanted`` members, reading no further than needed."""
    members, first = {}, None
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            first = first or member.name
            if member.name in wanted:
                members[member.name] = tar.extractfile(member).read()
                if len(members) == len(wanted):
                    return first, members
    raise AssertionError(f"{sorted(set(wanted) - set(members))} not in {archive}")


def test_download_my_site_in_a_real_browser(served, browser, make, tmp_path):
    app, queue, base = served
    owner, site, photos = _camp_site(app, make)
    page = browser.new_page(accept_downloads=True, viewport={"width": 960, "height": 760})
    log_in_and_open_site(page, base, owner, site)
    assert page.inner_text("h1") == "Lakeside Summer Camp"

    # Record every progress text the page shows, however briefly.
    page.evaluate(
        """() => {
        window.seenProgress = [];
        const text = document.getElementById('export-text');
        new MutationObserver(() => window.seenProgress.push(text.textContent))
          .observe(text, {childList: true, characterData: true, subtree: true});
    }"""
    )
    page.click("#export-button")
    page.wait_for_selector("#export-progress:not([hidden])")
    page.wait_for_function(
        "document.getElementById('export-text').textContent.includes('Waiting for a worker')"
    )  # no worker yet: the job waits in the queue, and the page says so

    with app_worker(app, queue, tmp_path / "worker.log") as worker:
        page.wait_for_selector("#export-download", timeout=90_000)
        seen = page.evaluate("window.seenProgress")
        assert any(re.fullmatch(r"Exporting… \d+ / \d+ files", s) for s in seen), (
            seen,
            worker.output(),
        )
        assert page.is_hidden("#export-progress")
        page.wait_for_selector("#export-jobs tbody tr[data-state=ready]")  # the list caught up
        assert page.inner_text("#export-button") == "Export again"
        live_link = page.inner_text("#export-download")
        assert re.fullmatch(r"Download site-[\d-]+\.tar\.gz \(\d+\.\d (KiB|MiB)\)", live_link)
        if SCREENSHOT_DIR:
            page.screenshot(path=str(Path(SCREENSHOT_DIR) / "site-export.png"))
        with page.expect_download() as download_info:
            page.click("#export-download")
        download = download_info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)

    assert re.fullmatch(rf"site-{site.id}-\d{{4}}-\d\d-\d\d-\d{{6}}\.tar\.gz", saved.name)
    wanted = {"manifest.json", "pages.json", "media.json"}
    first, members = _read_members(saved, wanted | {f"media/{p.stored_name}" for p in photos})
    manifest = json.loads(members["manifest.json"])
    pages = json.loads(members["pages.json"])
    media = json.loads(members["media.json"])
    exported_photos = {m["id"]: members[m["file"]] for m in media[:3]}
    assert first == "manifest.json"
    assert manifest["site"] == {
        "id": site.id,
        "subdomain": "lakeside",
        "title": site.title,
        "owner": owner.email,
    }
    assert manifest["counts"]["pages"] == 3
    assert [p["slug"] for p in pages] == ["home", "program", "sign-up"]
    assert [b["type"] for b in pages[0]["blocks"]] == ["hero", "text"]
    for photo in photos:
        assert exported_photos[photo.id] == photo_bytes(app, photo)

    # Reloading the page shows the finished export in the list, with its own download button.
    page.reload()
    row = page.locator("#export-jobs tbody tr").first
    assert row.get_attribute("data-state") == "ready"
    assert row.locator("a.button").inner_text() == "Download"
    assert page.inner_text("#export-download") == live_link  # the same size text, same unit


def test_download_my_site_without_javascript(served, browser, make, tmp_path):
    app, queue, base = served
    owner = make.user()
    site = make.site(owner=owner, title="No Script Camp")
    photo = make.media(site, content=os.urandom(50_000), name="tent.jpg")
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    log_in_and_open_site(page, base, owner, site)

    page.click("#export-button")  # a plain form post, answered by a redirect
    assert page.url == f"{base}/admin/sites/{site.id}"
    assert "Your export has started." in page.inner_text("main")
    assert page.locator("#export-jobs tbody tr").first.get_attribute("data-state") == "queued"

    with app_worker(app, queue, tmp_path / "worker.log"):
        # The page refreshes itself (a <noscript> meta refresh) until the export is done.
        page.wait_for_selector("#export-jobs tbody tr[data-state=ready] a.button", timeout=60_000)
        # ...and then shows the box the JavaScript page shows.
        assert re.fullmatch(
            rf"Your export is ready: Download site-{site.id}-[\d-]+\.tar\.gz "
            r"\(\d+\.\d (KiB|MiB)\)\s+SHA-256 [0-9a-f]{64}",
            page.inner_text("#export-result"),
        )
        assert page.inner_text("#export-button") == "Export again"
        with page.expect_download() as download_info:
            page.click("#export-jobs tbody tr[data-state=ready] a.button")
        saved = tmp_path / "export.tar.gz"
        download_info.value.save_as(saved)
    with tarfile.open(saved, "r:gz") as tar:
        assert tar.extractfile(f"media/{photo.stored_name}").read() == photo_bytes(app, photo)
    context.close()


def photo_bytes(app, item):
    """Return the bytes of a media item on disk."""
    return Path(app.config["STINKY_DATA_DIR"], "uploads", item.relative_path).read_bytes()


def test_failed_export_shows_the_reason_and_can_be_retried(served, browser, make, tmp_path):
    app, queue, base = served
    owner = make.user()
    site = make.site(owner=owner, title="Broken Disk Camp")
    make.page(site, slug="home")
    # A file where the exports folder belongs: the export cannot be written.
    blocker = Path(app.config["STINKY_DATA_DIR"], "backups", "site-exports")
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    page = browser.new_page()
    log_in_and_open_site(page, base, owner, site)

    with app_worker(app, queue, tmp_path / "worker.log"):
        page.click("#export-button")
        page.wait_for_selector("#export-result.bad", timeout=60_000)
        assert page.inner_text("#export-result") == (
            "Export failed: The server could not write the export (File exists). Try again later."
        )
        assert page.inner_text("#export-button") == "Try again"
        assert page.is_enabled("#export-button")

        blocker.unlink()  # the administrator fixes the disk
        page.click("#export-button")
        page.wait_for_selector("#export-download", timeout=60_000)
        page.wait_for_selector("#export-jobs tbody tr[data-state=ready]")
    states = page.locator("#export-jobs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.state)"
    )
    assert states == ["ready", "failed"]


PHONE = {"width": 390, "height": 844}


def test_login_dashboard_and_site_pages_fit_a_390_px_screen(served, browser, make):
    app, _, base = served
    # Long names, a global admin (so the backup banner shows), a ready and a failed export.
    owner = make.user(email="anna.longname@lakeside-summer-camp.example", admin=True)
    for n in range(2):
        site = make.site(
            owner=owner,
            subdomain=f"lakeside-summer-camp-{n}",
            title=f"Lakeside Summer Camp and Outdoor Centre {n}",
        )
    make.media(site, content=os.urandom(300_000), name="lake.jpg")
    failed = ExportJob(site_id=site.id, user_id=owner.id, created_at=utcnow())
    db.session.add(failed)
    db.session.commit()
    fail_job(db.session, failed.id, "The server could not write the export (File exists).")
    job, _ = request_export_job(db.session, site.id, owner.id, stuck_after=3600)
    assert run_export_job(app.config, db.session, job.id) == "ready"

    page = browser.new_page(viewport=PHONE)
    widths = {}
    page.goto(f"{base}/login")
    widths["login"] = page.evaluate("document.documentElement.scrollWidth")
    page.fill("input[name=email]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-banner=backups]")
    widths["dashboard"] = page.evaluate("document.documentElement.scrollWidth")
    page.click(f"a[href='/admin/sites/{site.id}']")
    page.wait_for_selector("#export-download")
    page.wait_for_selector("#export-jobs tbody tr[data-state=failed]")
    widths["site"] = page.evaluate("document.documentElement.scrollWidth")
    if SCREENSHOT_DIR:
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "site-390px.png"), full_page=True)
    assert all(width <= PHONE["width"] for width in widths.values()), widths  # nothing overflows
