"""Click to download link in a real browser: ``python -m bench.clicks [--data-dir DIR]``.

Serves the app on localhost with a Celery worker (prefork, two processes, as in
the Procfile) on the real Redis, logs in as the site's owner in headless
Chromium, clicks "Download my site" and times how long the download button
takes to appear. The page polls about once a second, so the figure includes up
to a second of polling; the job's own timestamps give the server-side time from
request to finished file.
"""

import argparse
import logging
import os
import statistics
import threading
import time
import uuid
from pathlib import Path

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS


def click_to_link(data_dir, redis_url, runs, chromium=CHROMIUM):
    """Click "Download my site" ``runs`` times on site 1 of ``data_dir``.

    Return {"browser": [seconds to the download button], "pipeline": [request to
    finished file], "size": archive bytes}.
    """
    data_dir = Path(data_dir)
    os.environ.update(
        STINKY_DATA_DIR=str(data_dir), CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url
    )
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from app import create_app, get_celery
    from app.config import Config
    from app.demo import DEFAULT_PASSWORD
    from app.extensions import db
    from app.models import ExportJob, Site, User
    from tests.workers import app_worker, purge_queue

    queue = f"sk-bench-{uuid.uuid4().hex[:8]}"
    app = create_app(Config())
    get_celery(app).conf.task_default_queue = queue
    with app.app_context():
        site = db.session.get(Site, 1)
        site_id, email = site.id, db.session.get(User, site.owner_id).email

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    browser_s, pipeline_s, size = [], [], 0
    worker = app_worker(app, queue, data_dir / "bench-worker.log", pool="prefork", concurrency=2)
    try:
        with worker, sync_playwright() as pw, app.app_context():
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", DEFAULT_PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/admin/sites/{site_id}")
            for _ in range(runs):
                page.evaluate("document.getElementById('export-download')?.remove()")
                started = time.perf_counter()
                page.click("#export-button")
                page.wait_for_selector("#export-download", timeout=120_000)
                browser_s.append(time.perf_counter() - started)
                db.session.commit()
                job = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
                pipeline_s.append((job.finished_at - job.created_at).total_seconds())
                size = job.size
                (data_dir / "backups" / "site-exports" / job.filename).unlink()
            browser.close()
    finally:
        server.shutdown()
        purge_queue(queue)
    return {"browser": browser_s, "pipeline": pipeline_s, "size": size}


def main():
    """Build (once) the typical corpus, click N times, print the figures."""
    from bench.__main__ import REDIS_URL, build_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--redis", default=REDIS_URL)
    opts = parser.parse_args()
    data_dir = build_corpus(opts.out, "typical")
    figures = click_to_link(data_dir, opts.redis, opts.runs)
    for name in ("browser", "pipeline"):
        values = figures[name]
        print(
            f"{name}: median {statistics.median(values):.2f} s, "
            f"min {min(values):.2f} s, max {max(values):.2f} s ({len(values)} runs)"
        )


if __name__ == "__main__":
    main()
