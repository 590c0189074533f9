"""Click to download link, measured in a real browser: ``python -m bench.site_export_click``.

Seeds (once) a typical camp site with the demo seed (one site, 50 pages of 8
blocks, 200 MiB of photo-like JPEGs), serves the app on localhost with
a Celery worker (prefork, two processes, as in the Procfile) on the real Redis,
then clicks "Download my site" in headless Chromium and times how long the
download button takes to appear. The page polls about once a second, so the
figure includes up to a second of polling; the job's own timestamps give the
server-side time from request to finished file.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def main():
    """Seed if needed, start server and worker, click N times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--blocks-per-page", type=int, default=8)
    parser.add_argument("--media-mb", type=int, default=200)
    parser.add_argument("--data-dir", default=None, help="reuse a corpus (default: a temp dir)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    opts = parser.parse_args()

    data_dir = Path(opts.data_dir or tempfile.mkdtemp(prefix="sk-bench-"))
    queue = f"sk-bench-{uuid.uuid4().hex[:8]}"
    env = {
        "STINKY_DATA_DIR": str(data_dir),
        "SECRET_KEY": "bench",
        "CELERY_BROKER_URL": opts.redis,
        "CELERY_RESULT_BACKEND": opts.redis,
    }
    os.environ.update(env)
    from flask_migrate import upgrade
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from app import create_app
    from app.config import Config
    from app.demo import DEFAULT_PASSWORD, DemoPlan, owner_email, seed_demo
    from app.extensions import db
    from app.models import ExportJob, Site
    from tests.worker_process import WorkerProcess

    app = create_app(Config())
    app.extensions["celery"].conf.task_default_queue = queue
    with app.app_context():
        upgrade()
        if db.session.query(Site.id).first() is None:
            started = time.perf_counter()
            plan = DemoPlan(
                sites=1,
                pages=opts.pages,
                blocks_per_page=opts.blocks_per_page,
                media_mb=opts.media_mb,
            )
            seed_demo(plan)
            print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        site = db.session.query(Site).order_by(Site.id).first()
        site_id, email = site.id, owner_email(1)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    clicks, pipeline, sizes = [], [], []
    worker = WorkerProcess(app, queue, data_dir / "bench-worker.log", pool="prefork", concurrency=2)
    with worker, sync_playwright() as pw, app.app_context():
        browser = pw.chromium.launch(
            executable_path=opts.chromium, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", DEFAULT_PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{base}/admin/sites/{site_id}")
        for _ in range(opts.runs):
            page.evaluate("document.getElementById('export-download')?.remove()")
            started = time.perf_counter()
            page.click("#export-button")
            page.wait_for_selector("#export-download", timeout=120_000)
            clicks.append(time.perf_counter() - started)
            db.session.commit()
            job = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
            pipeline.append((job.finished_at - job.created_at).total_seconds())
            sizes.append(job.size)
            (data_dir / "backups" / "site-exports" / job.filename).unlink()
        browser.close()
    server.shutdown()

    def line(name, values):
        return (
            f"{name}: median {statistics.median(values):.2f} s, "
            f"min {min(values):.2f} s, max {max(values):.2f} s  ({len(values)} runs)"
        )

    print(f"corpus: {data_dir} ({opts.pages} pages, {opts.media_mb} MiB of images)")
    print(f"archive size: {statistics.median(sizes) / 1e6:.1f} MB")
    print(line("click to download button (browser, 1 s polling)", clicks))
    print(line("request to finished file (job timestamps)", pipeline))


if __name__ == "__main__":
    main()
