"""The owner puts their site back as it was in a backup, in a real Chromium, then undoes it."""

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.backup.system import create_backup
from app.extensions import db
from app.models import Page
from tests.backupkit import FakeClock
from tests.sitekit import build_camp
from tests.support.browser import log_in_and_open_site
from tests.workers import app_worker

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _slugs(site_id):
    db.session.remove()
    return set(db.session.scalars(sa.select(Page.slug).where(Page.site_id == site_id)))


def test_restore_a_version_from_the_site_history_and_undo_it(served, browser, make, tmp_path):
    app, queue, base = served
    owner = make.user(email="owner1@example.org")
    site_id = build_camp(make, "lakeside", owner=owner).id
    owner, site = SimpleNamespace(email=owner.email), SimpleNamespace(id=site_id)
    clock = FakeClock()
    create_backup(app.config, db.engine, clock=clock)
    # The owner deletes the program page by mistake; the nightly backup keeps that too.
    db.session.delete(db.session.scalar(sa.select(Page).filter_by(site_id=site_id, slug="program")))
    db.session.commit()
    clock.advance(days=1)
    create_backup(app.config, db.engine, clock=clock)
    assert _slugs(site_id) == {"home", "draft"}

    page = browser.new_page()
    log_in_and_open_site(page, base, owner, site)
    page.click("#site-history-link")
    page.wait_for_selector("#versions")
    versions = page.locator(".version")
    assert versions.count() == 2
    assert "the same as the site now" in versions.nth(0).inner_text()
    older = versions.nth(1)
    assert "2025-06-01 02:00 UTC" in older.inner_text()
    assert "since then: 1 page removed (program)" in older.inner_text()

    older.locator(".restore-version").click()
    page.wait_for_selector("#history-preview:not([hidden])")
    assert "bring back 1 deleted page (program)" in page.inner_text("#history-effects")
    assert page.is_disabled("#history-confirm")
    page.fill("#history-name", "pinecrest")
    assert page.is_disabled("#history-confirm")
    page.fill("#history-name", "lakeside")
    page.click("#history-confirm")
    page.wait_for_function(
        "document.getElementById('history-text').textContent.includes('Waiting for a worker')"
    )
    assert _slugs(site_id) == {"home", "draft"}  # nothing changes before a worker runs it
    with app_worker(app, queue, tmp_path / "worker.log") as worker:
        page.wait_for_selector("#history-undo:not([hidden])", timeout=90_000)
        result = page.inner_text("#history-result")
        assert result.startswith("Restored the version of 2025-06-01 02:00 UTC"), worker.output()
        assert _slugs(site_id) == {"home", "program", "draft"}  # the change is gone
        assert "the same as the site now" in page.locator(".version").nth(1).inner_text()

        page.click("#history-undo")
        assert "Changes made to the site since then are lost" in page.inner_text(
            "#history-undo-confirm"
        )
        page.click("#history-undo-yes")
        page.wait_for_function(
            "document.getElementById('history-result').textContent.startsWith('Undone')",
            timeout=90_000,
        )
    assert _slugs(site_id) == {"home", "draft"}  # and back
    assert page.is_hidden("#history-undo")
    assert "the same as the site now" in page.locator(".version").nth(0).inner_text()
