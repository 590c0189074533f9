"""Click to done for "Restore from an export file", in a real browser, with a real worker.

Serves the app with a Celery worker (prefork, two processes) on the real Redis,
logs in as site 1's owner in headless Chromium, and times: choosing the site's
own export and clicking "Upload and preview" until the preview shows, and
clicking "Replace this site" until the page says it is restored (the job saves
the site first, then replaces it). The page polls about once a second.
"""

import logging
import os
import threading
import time
import uuid
from pathlib import Path

from bench.clicks import CHROMIUM, CHROMIUM_ARGS


def click_to_done(data_dir, redis_url, runs, chromium=CHROMIUM):
    """Restore site 1 of ``data_dir`` from its own export ``runs`` times; return the timings."""
    data_dir = Path(data_dir)
    os.environ.update(
        STINKY_DATA_DIR=str(data_dir), CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url
    )
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from app import create_app, get_celery
    from app.config import Config
    from app.demo import DEFAULT_PASSWORD
    from app.exports.export import export_site
    from app.extensions import db
    from app.models import Site, User
    from tests.workers import app_worker, purge_queue

    queue = f"sk-bench-{uuid.uuid4().hex[:8]}"
    app = create_app(Config())
    get_celery(app).conf.task_default_queue = queue
    with app.app_context():
        site = db.session.get(Site, 1)
        site_id, email = site.id, db.session.get(User, site.owner_id).email
        archive = export_site(app.config, site_id, dest=data_dir / "bench-restore.tar.gz")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    upload_s, restore_s = [], []
    worker = app_worker(app, queue, data_dir / "bench-worker.log", pool="prefork", concurrency=2)
    try:
        with worker, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", DEFAULT_PASSWORD)
            page.click("button[type=submit]")
            for _ in range(runs):
                page.goto(f"{base}/admin/sites/{site_id}")
                page.set_input_files("#restore-file", str(archive.path))
                started = time.perf_counter()
                page.click("#restore-upload")
                page.wait_for_selector("#restore-preview:not([hidden])", timeout=120_000)
                upload_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                page.click("#restore-confirm")
                page.wait_for_function(
                    "document.getElementById('restore-result').textContent.startsWith('Restored:')",
                    timeout=300_000,
                )
                restore_s.append(time.perf_counter() - started)
            browser.close()
    finally:
        server.shutdown()
        purge_queue(queue)
        archive.path.unlink(missing_ok=True)
    return {"upload_to_preview": upload_s, "confirm_to_done": restore_s, "size": archive.size}
