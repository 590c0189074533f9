"""The small things a person meets on the pages, in a real Chromium at 1280 and 390 px wide."""

import re

import pytest

from app.backup.runs import run_backup
from app.exports.jobs import request_export_job
from app.extensions import db
from tests.factories import PASSWORD
from tests.sitekit import build_camp

pytestmark = [pytest.mark.browser, pytest.mark.integration]
WIDTHS = [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]

# For each table: is every heading above a right-aligned column right-aligned too?
HEADINGS_ALIGNED = """() => Array.from(document.querySelectorAll("table")).every(table => {
  const heads = Array.from(table.querySelectorAll("thead th"));
  return Array.from(table.querySelectorAll("tbody tr")).every(row =>
    Array.from(row.children).every((cell, i) =>
      getComputedStyle(cell).textAlign !== "right" || !heads[i] ||
      getComputedStyle(heads[i]).textAlign === "right"));
})"""


def _log_in(page, base, user):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")


@pytest.mark.parametrize("viewport", WIDTHS)
def test_number_headings_stand_over_their_numbers(served, browser, make, viewport):
    app, _queue, base = served
    admin = make.user(admin=True)
    site = build_camp(make, "lakeside", owner=admin)
    request_export_job(db.session, site.id, admin.id, stuck_after=3600)
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    page = browser.new_page(viewport=viewport)
    _log_in(page, base, admin)
    for url in (
        "/admin/",
        f"/admin/sites/{site.id}",
        f"/admin/backups/{outcome.backup_id}/sites?site=lakeside",
    ):
        page.goto(f"{base}{url}")
        assert page.locator("td.num").count() > 0, url
        assert page.evaluate(HEADINGS_ALIGNED), url


@pytest.mark.parametrize("viewport", WIDTHS)
def test_file_input_and_site_picker_look_like_our_controls(served, browser, make, viewport):
    app, _queue, base = served
    admin = make.user(admin=True)
    site = build_camp(make, "lakeside", owner=admin)
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    page = browser.new_page(viewport=viewport)
    _log_in(page, base, admin)
    accent = page.eval_on_selector("#backups-link", "e => getComputedStyle(e).color")  # white
    page.goto(f"{base}/admin/sites/{site.id}")
    picker_button = page.eval_on_selector(
        "#restore-file",
        "e => { const s = getComputedStyle(e, '::file-selector-button');"
        " return [s.borderTopColor, s.borderRadius, s.backgroundColor]; }",
    )
    button = page.eval_on_selector(
        "button.secondary, .button.secondary",
        "e => { const s = getComputedStyle(e);"
        " return [s.borderTopColor, s.borderRadius, s.backgroundColor]; }",
    )
    assert picker_button == button  # the file picker's button is our secondary button
    page.goto(f"{base}/admin/backups/{outcome.backup_id}/sites")
    radius = page.eval_on_selector("#site-pick", "e => getComputedStyle(e).borderRadius")
    assert radius == "4px", accent
    assert page.evaluate("document.documentElement.scrollWidth") == viewport["width"]


@pytest.mark.parametrize("viewport", WIDTHS)
def test_a_wrong_typed_confirmation_says_what_to_type(served, browser, make, viewport):
    app, _queue, base = served
    admin = make.user(admin=True)
    build_camp(make, "lakeside", owner=admin)
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    page = browser.new_page(viewport=viewport)
    _log_in(page, base, admin)
    page.goto(f"{base}/admin/backups/{outcome.backup_id}/sites?site=lakeside")
    page.fill("#rollback-confirm", "lakesid")
    message = page.eval_on_selector("#rollback-confirm", "e => e.validationMessage")
    assert message == "Type lakeside to confirm"
    page.fill("#rollback-confirm", "lakeside")
    assert page.eval_on_selector("#rollback-confirm", "e => e.validationMessage") == ""


def test_without_javascript_the_server_says_what_to_type(served, browser, make):
    app, _queue, base = served
    admin = make.user(admin=True)
    build_camp(make, "lakeside", owner=admin)
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _log_in(page, base, admin)
    page.goto(f"{base}/admin/backups/{outcome.backup_id}/sites?site=lakeside")
    page.fill("#rollback-confirm", "lakesid")
    page.click("#rollback-button")
    assert "Type lakeside to confirm; nothing was changed." in page.inner_text(".flash")
    context.close()


def _seconds(text):
    minutes, seconds = re.search(r"(\d+) min (\d+) s", text).groups()
    return 60 * int(minutes) + int(seconds)


@pytest.mark.parametrize("viewport", WIDTHS)
def test_the_download_links_lifetime_counts_down(served, browser, make, viewport):
    app, _queue, base = served
    admin = make.user(admin=True)
    make.site(owner=admin)
    run_backup(app.config, db.engine, trigger="cli")
    page = browser.new_page(viewport=viewport)
    _log_in(page, base, admin)
    page.goto(f"{base}/admin/backups")
    page.click("#sudo-link")
    page.fill("input[name=password]", PASSWORD)
    page.click("#sudo-confirm")
    first = page.inner_text("#sudo-left")
    assert first.startswith("Download links are offered for ")
    page.wait_for_function(
        "first => document.getElementById('sudo-left').textContent !== first", arg=first
    )  # the seconds go down while the page stays open
    assert _seconds(page.inner_text("#sudo-left")) < _seconds(first)


def test_logging_out_says_so(served, browser, make):
    _app, _queue, base = served
    user = make.user()
    page = browser.new_page()
    _log_in(page, base, user)
    page.click(".logout button")
    page.wait_for_url(f"{base}/login")
    assert page.inner_text(".flash") == "You are logged out."


def test_the_404_page_offers_what_fits_the_visitor(served, browser, make):
    _app, _queue, base = served
    page = browser.new_page()
    page.goto(f"{base}/no/such/page")
    main = page.inner_text("main")
    assert "Back to your sites" not in main
    page.click("main a")
    assert page.url == f"{base}/login"
    _log_in(page, base, make.user())
    page.goto(f"{base}/no/such/page")
    assert "Back to your sites" in page.inner_text("main")
