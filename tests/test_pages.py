"""What every page shares: the styled 404, the favicon, the backup banner, the "ready" box."""

import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

from flask import render_template

from app.backup.status import Problem
from app.exports.export import exports_dir
from app.exports.jobs import request_export_job, run_export_job
from app.extensions import db

READY_BOX = re.compile(r'<p id="export-result" class="result">(.*?)</p>', re.S)


def test_unknown_urls_get_the_styled_not_found_page(client, login_as, make):
    for path in ("/no/such/page", "/admin/nothing-here", "/static/missing.css"):
        page = client.get(path)
        assert page.status_code == 404, path
        html = page.get_data(as_text=True)
        assert "<h1>Not found</h1>" in html, path
        assert 'href="/static/style.css"' in html, path
    logged_in = login_as(make.user()).get("/admin/nothing-here")
    assert logged_in.status_code == 404
    assert "Back to your sites" in logged_in.get_data(as_text=True)


def test_every_page_links_the_favicon_and_it_is_served(client):
    html = client.get("/login").get_data(as_text=True)
    href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html).group(1)
    icon = client.get(href)
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml"
    assert ET.fromstring(icon.get_data()).tag == "{http://www.w3.org/2000/svg}svg"
    legacy = client.get("/favicon.ico")  # what browsers ask for on their own
    assert legacy.status_code in (301, 302)
    assert legacy.headers["Location"].endswith(href)


def test_the_backup_banner_shows_code_as_code_and_no_server_path(app, login_as, make):
    admin = make.user(admin=True)
    html = login_as(admin).get("/admin/").get_data(as_text=True)  # no backup at all yet
    start = html.index('data-banner="backups"')
    banner = html[start : html.index("</div>", start)]
    assert "STALE: there is no good backup" in banner
    assert "<code>flask backup status</code>" in banner
    assert "`" not in banner
    assert app.config["STINKY_DATA_DIR"] not in html

    failing = Problem("last-run-failed", "FAILING", "in /srv", "run `flask backup create` <now>")
    status = SimpleNamespace(problems=[failing])
    html = render_template("backup_banner.html", backup_alert=lambda: status)
    assert "<li>FAILING: run <code>flask backup create</code> &lt;now&gt;</li>" in html


def test_the_page_without_javascript_shows_the_ready_box_of_the_finished_export(
    app, login_as, make
):
    site = make.site()
    make.media(site, content=b"\x89PNG tent", name="tent.png")
    client = login_as(site.owner)
    job, _ = request_export_job(db.session, site.id, site.owner_id, stuck_after=3600)
    running = client.get(f"/admin/sites/{site.id}").get_data(as_text=True)
    assert READY_BOX.search(running) is None  # queued: no box yet, the page refreshes
    assert '<p id="export-result" class="result" hidden></p>' in running

    assert run_export_job(app.config, db.session, job.id) == "ready"
    db.session.refresh(job)
    html = client.get(f"/admin/sites/{site.id}").get_data(as_text=True)
    box = READY_BOX.search(html).group(1)
    # The words export.js writes into the same box once the export is ready, from the status.
    status = client.get(f"/admin/export/{job.id}", headers={"Accept": "application/json"})
    size_text = status.get_json()["size_text"]
    text = " ".join(re.sub(r"<[^>]+>", " ", box).split())
    assert text == (
        f"Your export is ready: Download {job.filename} ({size_text}) SHA-256 {job.sha256}"
    )
    assert size_text.endswith(("bytes", "KiB", "MiB", "GiB"))
    assert 'id="export-button" class="secondary">Export again</button>' in html
    href = re.search(r'<a class="button" id="export-download"\s+href="([^"]+)"', box).group(1)
    download = client.get(href.replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.get_data() == (exports_dir(app.config) / job.filename).read_bytes()
