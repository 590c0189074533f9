"""An export's static copy browses in Chromium from file:// and under a sub-path of a plain server.

Every demo site is exported and unpacked; the crawl opens site/index.html,
follows every menu and in-page link of every page it reaches, and checks the
titles, the text blocks, the images and that nothing was asked of another host.
"""

import json
import re
import subprocess
import sys
from urllib.parse import urldefrag

import html5lib
import pytest

from app.archive import extract_archive
from app.demo import DemoPlan, seed_demo
from app.exports.export import export_site
from app.extensions import db
from app.models import Site
from tests.processes import stop_group
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ALL_IMAGES_LOADED = """() => {
  const images = Array.from(document.images);
  images.forEach(image => { image.loading = 'eager'; });
  return images.every(image => image.complete);
}"""


def _words(text):
    return " ".join(text.split())


@pytest.fixture
def exports(app, tmp_path):
    """Export every demo site and unpack it; return [(subdomain, folder)]."""
    seed_demo(DemoPlan(sites=3, pages=7, blocks_per_page=6, media_mb=1.5))
    unpacked = []
    (tmp_path / "exports").mkdir()
    for site in db.session.scalars(db.select(Site).order_by(Site.id)):
        folder = tmp_path / "exports" / site.subdomain
        extract_archive(export_site(app.config, site.id).path, folder)
        unpacked.append((site.subdomain, folder))
    return unpacked


def _expected(folder):
    """Return {page title: [text block texts]} of the export's published pages."""
    pages = json.loads((folder / "pages.json").read_text())
    expected = {}
    for page in pages:
        if page["published"]:
            texts = [
                _words("".join(html5lib.parseFragment(b["data"]["html"]).itertext()))
                for b in page["blocks"]
                if b["type"] == "text"
            ]
            expected[page["title"]] = texts
    return expected


def _record_requests(context):
    """Record every request of ``context``; refuse any that is not to file:// or the loopback."""
    seen = []
    context.on("request", lambda request: seen.append(request.url))

    def guard(route):
        url = route.request.url
        if url.startswith(("file://", "http://127.0.0.1:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    return seen


def _crawl(page, start, prefix):
    """Open ``start`` and follow every link under ``prefix``; return {url: (h1, main text)}."""
    seen, queue = {}, [start]
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        answer = page.goto(url)
        assert answer is None or answer.ok, url
        page.wait_for_function(ALL_IMAGES_LOADED)
        broken = page.evaluate(
            "() => Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)"
        )
        assert not broken, (url, broken)
        assert page.locator("nav a").count() > 0, url
        seen[url] = (page.inner_text("h1"), _words(page.text_content("main")))
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            target = urldefrag(href).url
            if target.startswith(prefix) and target not in seen:
                queue.append(target)
    return seen


def _check_site(page, start, prefix, folder):
    expected = _expected(folder)
    visited = _crawl(page, start, prefix)
    titles = {title for title, _text in visited.values()}
    assert set(expected) <= titles
    assert titles - set(expected) <= {"Page not found"}
    menu = [(a.inner_text(), a.get_attribute("href")) for a in page.locator("nav a").all()]
    assert menu[0][1] == "index.html"
    for title, text in visited.values():
        for block in expected.get(title, ()):
            assert block in text, (title, block[:60])
    return visited


def test_the_recorder_sees_a_request_to_another_host(browser):
    context = browser.new_context()
    seen = _record_requests(context)
    page = context.new_page()
    page.set_content('<img src="http://example.invalid/x.png">')
    wait_for(lambda: seen, timeout=10, what="the request")
    assert seen == ["http://example.invalid/x.png"]
    context.close()


def test_every_demo_site_browses_from_file_urls(browser, exports):
    for _subdomain, folder in exports:
        context = browser.new_context()
        requests = _record_requests(context)
        page = context.new_page()
        site = folder / "site"
        visited = _check_site(page, (site / "index.html").as_uri(), site.as_uri() + "/", folder)
        assert len(visited) > 2
        assert requests
        assert all(url.startswith("file://") for url in requests), requests
        context.close()


def test_every_demo_site_browses_under_a_sub_path_of_a_plain_server(browser, exports, tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=tmp_path / "exports",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        port = re.search(r"port (\d+)", server.stdout.readline()).group(1)
        root = f"http://127.0.0.1:{port}"  # it listens once it has said so
        for subdomain, folder in exports:
            context = browser.new_context()
            requests = _record_requests(context)
            page = context.new_page()
            prefix = f"{root}/{subdomain}/site/"
            _check_site(page, prefix + "index.html", prefix, folder)
            assert all(url.startswith(f"{root}/{subdomain}/") for url in requests), requests
            context.close()
    finally:
        stop_group(server)
