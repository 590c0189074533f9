"""Retake the screenshots in docs/ from today's demo: ``python -m docs.screenshots [--out DIR]``.

It seeds the demo into a new, temporary data dir (as ``flask setup`` does), makes
an export of Camp Pinecrest and a verified backup in this process (no worker
needed), serves the app on a free port of 127.0.0.1, and captures with Debian's
Chromium (through Playwright, ``CHROMIUM`` to use another):

- ``site-export.png``: ``owner1@example.org`` on Camp Pinecrest's page, the
  finished export offered for download (1000x700);
- ``backups-page.png``: ``admin@example.org`` on the backups page (1000 wide, whole page).

Look at them before committing: they must show no machine paths.
"""

import argparse
import sys
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

HERE = Path(__file__).resolve().parent


def demo_app(data_dir):
    """Return an app on ``data_dir`` with the demo seeded, an export and a verified backup."""
    from flask_migrate import upgrade

    from app import create_app, init_migrations
    from app.backup import verification
    from app.backup.runs import run_backup
    from app.config import Config
    from app.demo import DEFAULT_PASSWORD, DemoPlan, seed_demo
    from app.exports.jobs import request_export_job, run_export_job
    from app.extensions import db
    from app.models import Site, User

    app = create_app(Config(environ={"STINKY_DATA_DIR": str(data_dir)}))
    init_migrations(app)
    with app.app_context():
        upgrade()
        seed_demo(DemoPlan(password=DEFAULT_PASSWORD))
        owner = db.session.query(User).filter_by(email="owner1@example.org").one()
        site = db.session.query(Site).filter_by(subdomain="pinecrest").one()
        job, _ = request_export_job(db.session, site.id, owner.id, stuck_after=3600)
        run_export_job(app.config, db.session, job.id)
        _, outcome = run_backup(app.config, db.engine, trigger="cli")
        verification.check_backup(app.config, outcome.backup_id)
        return app, site.id


def capture(base, site_id, out):
    """Log in as the demo's owner and admin and capture the two pages into ``out``."""
    from playwright.sync_api import sync_playwright

    from app.demo import DEFAULT_PASSWORD

    def log_in(page, email):
        page.goto(f"{base}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", DEFAULT_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        log_in(page, "owner1@example.org")
        page.goto(f"{base}/admin/sites/{site_id}")
        page.wait_for_selector("#export-download")
        page.screenshot(path=str(out / "site-export.png"))
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        log_in(page, "admin@example.org")
        page.goto(f"{base}/admin/backups")
        page.screenshot(path=str(out / "backups-page.png"), full_page=True)
        browser.close()


def main(argv=None):
    """Take the screenshots; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the PNGs to")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stinkykitty-screenshots-") as data_dir:
        app, site_id = demo_app(Path(data_dir))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            capture(f"http://127.0.0.1:{server.server_port}", site_id, args.out)
        finally:
            server.shutdown()
            thread.join(timeout=10)
    for name in ("site-export.png", "backups-page.png"):
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
