"""The owner restores their site from an export file in a real Chromium, then undoes it."""

import pytest

from app.exports.export import export_site
from app.extensions import db
from app.models import Page, Site
from tests.sitekit import build_camp
from tests.support.browser import log_in_and_open_site
from tests.workers import app_worker

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _title(site_id):
    db.session.remove()
    return db.session.get(Site, site_id).title


def test_restore_from_an_export_file_and_undo_it(served, browser, make, tmp_path):
    app, queue, base = served
    owner = make.user(email="anna@lakeside.example")
    site = build_camp(make, "lakeside", owner=owner)
    site_id = site.id
    saved = export_site(app.config, site_id, dest=tmp_path / "lakeside-saved.tar.gz")
    # The owner deletes half the site by mistake.
    site.title = "Half deleted"
    db.session.delete(db.session.query(Page).filter_by(site_id=site_id, slug="home").one())
    db.session.commit()

    page = browser.new_page()
    log_in_and_open_site(page, base, owner, site)
    _record_texts(page, "restore-text")
    page.set_input_files("#restore-file", str(saved.path))
    page.click("#restore-upload")
    page.wait_for_selector("#restore-preview:not([hidden])")
    assert "Uploading lakeside-saved.tar.gz…" in page.evaluate("window.seenTexts")
    summary = page.inner_text("#restore-summary")
    assert summary.startswith("lakeside-saved.tar.gz holds the site lakeside (Camp lakeside ☀)")
    assert "3 pages, 3 media files" in summary
    assert page.is_hidden("#restore-warning")
    assert _title(site_id) == "Half deleted"  # nothing changes before the confirmation

    page.click("#restore-confirm")
    page.wait_for_function(
        "document.getElementById('restore-text').textContent.includes('Waiting for a worker')"
    )
    with app_worker(app, queue, tmp_path / "worker.log") as worker:
        page.wait_for_selector("#restore-undo:not([hidden])", timeout=90_000)
        assert page.inner_text("#restore-result") == "Restored: 3 pages, 3 media.", worker.output()
        assert _title(site_id) == "Camp lakeside ☀"

        page.reload()  # the undo stays offered while the saved state is kept
        assert page.inner_text("#restore-result") == "Restored: 3 pages, 3 media."
        page.wait_for_selector("#restore-undo:not([hidden])")

        # A new preview takes the place of the last outcome and its undo; Cancel brings them back.
        page.set_input_files("#restore-file", str(saved.path))
        page.click("#restore-upload")
        page.wait_for_selector("#restore-preview:not([hidden])")
        assert page.is_hidden("#restore-undo")
        assert page.is_hidden("#restore-result")
        page.click("#restore-cancel")
        assert page.is_visible("#restore-undo")
        assert page.inner_text("#restore-result") == "Restored: 3 pages, 3 media."

        # Undo asks first; "Keep" changes nothing.
        page.click("#restore-undo")
        assert page.is_visible("#restore-undo-confirm")
        assert "Changes made to the site since then are lost" in page.inner_text(
            "#restore-undo-confirm"
        )
        page.click("#restore-undo-no")
        assert page.is_hidden("#restore-undo-confirm")
        assert _title(site_id) == "Camp lakeside ☀"
        page.click("#restore-undo")
        page.click("#restore-undo-yes")
        page.wait_for_function(
            "document.getElementById('restore-result').textContent.startsWith('Undone')",
            timeout=90_000,
        )
    undone = "Undone: the site is back as it was before the restore (2 pages, 3 media)."
    assert page.inner_text("#restore-result") == undone
    assert page.is_hidden("#restore-undo")  # an undo is not undone in turn
    assert _title(site_id) == "Half deleted"
    page.reload()
    assert page.inner_text("#restore-result") == undone  # the same words after a reload
    assert page.is_hidden("#restore-undo")


def _record_texts(page, element_id):
    """Keep every text the element shows, however briefly, in ``window.seenTexts``."""
    page.evaluate(
        """id => {
        window.seenTexts = [];
        const element = document.getElementById(id);
        new MutationObserver(() => window.seenTexts.push(element.textContent))
          .observe(element, {childList: true, characterData: true, subtree: true});
    }""",
        element_id,
    )


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]
)
def test_a_file_no_export_is_refused_by_its_name(served, browser, make, tmp_path, viewport):
    _app, _queue, base = served
    owner = make.user(email="anna@lakeside.example")
    site = build_camp(make, "lakeside", owner=owner)
    junk = tmp_path / "camp photos.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    page = browser.new_page(viewport=viewport)
    log_in_and_open_site(page, base, owner, site)
    page.set_input_files("#restore-file", str(junk))
    page.click("#restore-upload")
    page.wait_for_selector("#restore-result:not([hidden])")
    message = page.inner_text("#restore-result")
    assert message.startswith("camp photos.tar.gz cannot be restored: "), message
    assert "upload.tar.gz" not in message
    assert "manifest" not in message
    assert page.is_hidden("#restore-preview")
    assert page.is_hidden("#restore-progress")
    assert page.evaluate("document.documentElement.scrollWidth") == viewport["width"]


def test_another_sites_export_is_refused_to_an_owner(served, browser, make, tmp_path):
    app, _queue, base = served
    owner = make.user(email="anna@lakeside.example")
    site = build_camp(make, "lakeside", owner=owner)
    other = build_camp(make, "pinecrest")
    archive = export_site(app.config, other.id, dest=tmp_path / "pinecrest.tar.gz")
    page = browser.new_page()
    log_in_and_open_site(page, base, owner, site)
    page.set_input_files("#restore-file", str(archive.path))
    page.click("#restore-upload")
    page.wait_for_selector("#restore-warning:not([hidden])")
    assert "another site (pinecrest)" in page.inner_text("#restore-warning")
    assert "Only a global admin" in page.inner_text("#restore-warning")
    assert page.is_disabled("#restore-confirm")
    assert page.is_hidden("#restore-other-label")
