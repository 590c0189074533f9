"""Fixtures ``served`` (the app over HTTP, tasks on Redis) and ``browser`` (headless Chromium)."""

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.factories import PASSWORD
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.workers import purge_queue, redis_app_config, unique_queue, use_queue


@pytest.fixture
def served(make_app):
    """The app, served over HTTP on localhost by a real server thread, with tasks on Redis."""
    app = make_app(**redis_app_config())
    queue = unique_queue()
    use_queue(app, queue)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with app.app_context():
        yield app, queue, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    purge_queue(queue)


@pytest.fixture
def browser():
    """A headless Debian Chromium driven by Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def log_in_and_open_site(page, base, owner, site):
    """Log in through the form as ``owner`` and open the page of ``site``."""
    page.goto(f"{base}/login")
    page.fill("input[name=email]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click(f"a[href='/admin/sites/{site.id}']")
