"""Every site export carries the site itself as static HTML under site/, safe and self-contained."""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import html5lib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.archive import extract_archive
from app.demo import DemoPlan, seed_demo
from app.exports.export import export_site
from app.exports.exportformat import check_export_manifest
from app.exports.siteimport import import_site
from app.exports.staticsite import write_static_site
from app.extensions import db
from app.models import Block, MenuItem, Page, Site, utcnow
from app.sitedata.rows import InvalidSiteData

URL_ATTRIBUTES = ("href", "src", "poster", "action", "formaction", "cite", "data", "srcset")


def parse_strict(text):
    """Parse a whole HTML document with html5lib, refusing any parse error; return the tree."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def urls_in(tree):
    """Yield (tag, attribute, value) of every URL-bearing attribute of ``tree``."""
    for element in tree.iter():
        for name, value in element.attrib.items():
            if name in URL_ATTRIBUTES:
                yield element.tag, name, value


def text_of(element):
    return " ".join("".join(element.itertext()).split())


def demo_export(app, tmp_path, **plan):
    """Seed a small demo, export its first site and return (site, manifest, unpacked folder)."""
    seed_demo(DemoPlan(**{"sites": 1, "pages": 8, "media_mb": 0.5, **plan}))
    site = db.session.scalar(db.select(Site).order_by(Site.id))
    result = export_site(app.config, site.id)
    dest = tmp_path / "unpacked"
    return site, extract_archive(result.path, dest), dest  # verifies every checksum


def test_every_export_carries_every_published_page_as_valid_self_contained_html(any_app, tmp_path):
    _site, manifest, dest = demo_export(any_app, tmp_path)
    assert manifest["export_format_version"] == 2
    pages = json.loads((dest / "pages.json").read_text())
    menu = json.loads((dest / "menu.json").read_text())
    published = [p for p in pages if p["published"]]
    assert len(published) < len(pages)  # the demo has drafts: they stay out of site/
    listed = {f["path"] for f in manifest["files"]}
    expected = {"site/index.html", "site/404.html", "site/style.css"}
    expected |= {f"site/{p['slug']}.html" for p in published}
    assert {p for p in listed if p.startswith("site/")} == expected

    for page in published:
        tree = parse_strict((dest / "site" / f"{page['slug']}.html").read_text())
        assert text_of(tree.find(".//h1")) == page["title"]
        assert [text_of(a) for a in tree.iterfind(".//nav/ul/li")] == [m["label"] for m in menu]
        body = text_of(tree.find(".//main"))
        for block in page["blocks"]:
            if block["type"] == "text":
                fragment = html5lib.parseFragment(block["data"]["html"], treebuilder="etree")
                assert text_of(fragment) in body
        images = list(tree.iter("img"))
        assert images or not page["blocks"]
        for image in images:
            assert image.get("alt")
            assert int(image.get("width")) > 0
            assert int(image.get("height")) > 0
            assert image.get("src").startswith("../media/")
            assert (dest / "site" / image.get("src")).is_file()
        assert tree.find(".//script") is None
        for tag, _attribute, value in urls_in(tree):
            if tag == "a" and urlsplit(value).scheme in ("http", "https"):
                continue  # a link away is followed only by a click, never loaded
            assert not urlsplit(value).scheme, (tag, value)
            assert not value.startswith("/"), (tag, value)
            target = (dest / "site" / value.split("#")[0]).resolve()
            assert target.is_file(), value
            assert target.is_relative_to(dest), value

    home = next(p for p in published if p["slug"] == "home")
    index = parse_strict((dest / "site" / "index.html").read_text())
    assert text_of(index.find(".//h1")) == home["title"]
    assert index.find(".//nav//a[@aria-current='page']").get("href") == "index.html"
    parse_strict((dest / "site" / "404.html").read_text())
    css = (dest / "site" / "style.css").read_text()
    assert "url(" not in css
    assert "@import" not in css
    assert len(css) < 4096


def test_home_falls_back_to_the_first_page_and_odd_slugs_get_safe_names(app, make, tmp_path):
    site = make.site(title="Odd Camp")
    first = make.page(site, slug="zeta", title="Zeta", blocks=[("text", {"html": "<p>Z</p>"})])
    odd = make.page(site, slug="../../etc/passwd", title="Odd", blocks=[])
    make.page(site, slug="index", title="Index page", blocks=[])
    make.page(site, slug="draft", title="Draft", published=False)
    make.menu_item(site, "Odd", "/../../etc/passwd", 0)
    make.menu_item(site, "Draft", "/draft", 1)
    make.menu_item(site, "Zeta", "zeta", 2)
    written = dict(write_static_site(db.session, site, tmp_path, {}, exported_at=utcnow()))
    names = ["index.html", "404.html", "style.css", "zeta.html"]
    names += [f"page-{odd.id}.html", f"page-{first.id + 2}.html"]
    assert set(written) == {f"site/{name}" for name in names}
    index = parse_strict(written["site/index.html"].read_text())
    assert text_of(index.find(".//h1")) == "Zeta"
    hrefs = [a.get("href") for a in index.iterfind(".//nav//a")]
    assert hrefs == [f"page-{odd.id}.html", "404.html", "index.html"]


def test_a_site_without_published_pages_still_has_an_index(app, make, tmp_path):
    site = make.site(title="Quiet Camp")
    make.page(site, slug="home", title="Hidden", published=False)
    written = dict(write_static_site(db.session, site, tmp_path, {}, exported_at=utcnow()))
    tree = parse_strict(written["site/index.html"].read_text())
    assert "no published pages" in text_of(tree.find(".//main"))
    assert "Hidden" not in written["site/index.html"].read_text()


def test_an_import_ignores_the_static_copy(app, tmp_path):
    site, _manifest, _dest = demo_export(app, tmp_path, pages=3)
    result = export_site(app.config, site.id)
    slugs = [p.slug for p in site.pages]
    import_site(app.config, db.engine, result.path, subdomain="copy", owner_email=site.owner.email)
    db.session.remove()
    copy = db.session.scalar(db.select(Site).where(Site.subdomain == "copy"))
    assert [p.slug for p in copy.pages] == slugs


def _manifest(version, path):
    return {
        "format": "stinkykitty-site-export",
        "export_format_version": version,
        "site": {"id": 1, "subdomain": "camp"},
        "files": [
            {"path": name, "size": 10}
            for name in ("README.md", "site.json", "pages.json", "menu.json", "media.json", path)
        ],
    }


@pytest.mark.parametrize(
    ("version", "path", "refusal"),
    [
        (1, "site/index.html", "unexpected member 'site/index.html'"),
        (2, "site/a/b.html", "unexpected static site file name 'site/a/b.html'"),
        (2, "site/.htaccess", "unexpected static site file name"),
        (2, "sites/index.html", "unexpected member"),
    ],
)
def test_a_static_copy_is_read_only_where_the_format_allows_it(version, path, refusal):
    with pytest.raises(InvalidSiteData, match=refusal):
        check_export_manifest(_manifest(version, path), "x.tar.gz")
    check_export_manifest(_manifest(2, "site/about-us.html"), "x.tar.gz")


HOSTILE = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="  JaVaScRiPt:alert(1)">x</a>',
        '<a href="java\tscript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="\x01javascript:alert(1)">x</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<svg onload="alert(1)"><script>alert(1)</script></svg>',
        '<p onclick="alert(1)" style="background:url(https://evil.example/x)">p</p>',
        '<iframe src="https://evil.example/"></iframe>',
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">b',
        '<a href="https://evil.example/x.js">ok link</a>',
        "</section></main><script>alert(1)</script>",
        '"><script>alert(1)</script>',
        "javascript:alert(1)",
        "<!--<script>-->",
        "&#1;&#x0b;&#x7f;&#x85;&#xfffe;&#xdfff;\x00\x1b",
        '<object data="javascript:alert(1)"></object><embed src="https://evil.example">',
        '<base href="https://evil.example/"><link rel=stylesheet href="https://evil.example">',
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        '<video poster="https://evil.example/p.jpg"><source src="https://evil.example/v.mp4">',
    ]
)
HOSTILE_TEXT = st.lists(st.one_of(HOSTILE, st.text(max_size=12)), min_size=1, max_size=4).map(
    "".join
)


def _assert_inert(path):
    text = path.read_text()
    tree = parse_strict(text)
    assert tree.find(".//script") is None
    for style in tree.iter("style"):  # only the theme's colour, checked
        assert re.fullmatch(r":root \{ --accent: [#0-9A-Za-z]+; \}", style.text), style.text
    for tag in ("iframe", "object", "embed", "base", "form", "meta[@http-equiv]"):
        assert tree.find(f".//{tag}") is None, tag
    for element in tree.iter():
        assert not [a for a in element.attrib if a.lower().startswith("on")], element.attrib
    for tag, _attribute, value in urls_in(tree):
        scheme = urlsplit(value.strip()).scheme.lower()
        assert scheme in ("", "http", "https", "mailto", "tel"), (tag, value)
        if tag != "a":  # nothing is loaded from another host
            assert not scheme, (tag, value)
            assert not value.startswith("//"), (tag, value)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(html=HOSTILE_TEXT, words=st.lists(HOSTILE_TEXT, min_size=6, max_size=6))
def test_hostile_block_content_comes_out_inert_and_valid(app, make, tmp_path_factory, html, words):
    title, label, url, alt, caption, button = words
    site = db.session.scalar(db.select(Site).where(Site.subdomain == "hostile"))
    if site is None:
        site = make.site(subdomain="hostile", title="Hostile")
        make.page(site, slug="home", title="Home")
        make.menu_item(site, "x", "/", 0)
        make.media(site, content=b"\x89PNG not really", name="x.png", mime="image/png")
        site.theme = {"color": "red"}
        db.session.commit()
    page = db.session.scalar(db.select(Page).where(Page.site_id == site.id))
    page.title = title
    image = site.media[0].id
    blocks = {
        "text": {"html": html + "\ud800"},  # a lone surrogate: only JSON data can hold one
        "hero": {
            "title": title,
            "alt": alt,
            "media_id": image,
            "cta": {"label": label, "url": url},
        },
        "gallery": {
            "title": caption,
            "layout": html,
            "images": [{"media_id": image, "caption": caption, "alt": alt}],
        },
        "video": {
            "url": url,
            "provider": label,
            "caption": caption,
            "poster_media_id": image,
            "media_id": image,
        },
        "buttons": {
            "align": alt,
            "buttons": [
                {"label": button, "url": url, "style": caption},
                {"label": label, "url": html},
            ],
        },
        label[:32]: {"html": html},
    }
    page.blocks = [
        Block(type=kind, position=n, data=data) for n, (kind, data) in enumerate(blocks.items())
    ]
    db.session.execute(db.update(MenuItem).where(MenuItem.site_id == site.id).values(label=label))
    site.tagline, site.theme = caption, {"color": label}
    db.session.commit()
    folder = tmp_path_factory.mktemp("hostile")
    media_files = {f"media/{m.stored_name}": Path("/nonexistent") for m in site.media}
    written = write_static_site(db.session, site, folder, media_files, exported_at=utcnow())
    for name, path in written:
        if name.endswith(".html"):
            _assert_inert(path)


def test_the_readme_the_command_and_the_site_page_point_to_the_browsable_copy(
    app, make, runner, client, login_as, tmp_path
):
    owner = make.user(email="owner@camp.example")
    site = make.site(owner=owner, subdomain="camp", title="Camp")
    make.page(site, slug="home", title="Home", blocks=[("text", {"html": "<p>Hi</p>"})])
    out = tmp_path / "camp.tar.gz"
    answer = runner.invoke(args=["site", "export", "camp", "-o", str(out)])
    assert answer.exit_code == 0, answer.output
    assert "open site/index.html in a browser" in answer.output

    extract_archive(out, tmp_path / "x")
    readme = (tmp_path / "x" / "README.md").read_text()
    assert "open `site/index.html`" in readme
    assert "document root" in readme
    assert (tmp_path / "x" / "site" / "index.html").is_file()

    page = login_as(owner).get(f"/admin/sites/{site.id}")
    assert page.status_code == 200
    assert "<code>site/index.html</code>" in page.get_data(as_text=True)


def test_the_bench_reports_the_static_copy_share_of_an_export(tmp_path):
    from bench.report import write_report

    def runs(seconds):
        return {"median": seconds, "min": seconds, "max": seconds, "runs": [seconds]}

    export = {"function": runs(1.0), "rss_kb": runs(1024), "size": 1000}
    export.update(click_to_link=runs(2.0), pipeline=runs(1.5))
    export.update(static_site=runs(0.03), static_site_bytes=80)
    text = write_report(
        {"machine": {"cores": 2, "python": "3"}, "started": "now", "export": export},
        tmp_path / "report.md",
    )
    assert "| Static HTML copy / whole export, time | 3.0% | ≤ 5% | met |" in text
    size_row = (
        "| Static HTML copy (uncompressed) / export archive, size | 8.00% | ≤ 5% | **missed** |"
    )
    assert size_row in text


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    kind=st.sampled_from(["PNG", "GIF", "JPEG", "progressive", "WEBP", "BMP"]),
    junk=st.binary(max_size=64),
)
def test_image_sizes_are_read_from_the_header_as_pillow_reads_them(width, height, kind, junk):
    import io
    import tempfile

    from PIL import Image

    from app.exports.staticsite.imagesize import image_size

    buffer = io.BytesIO()
    options = {"progressive": True} if kind == "progressive" else {}
    fmt = "JPEG" if kind == "progressive" else kind
    Image.new("RGB", (width, height), "teal").save(buffer, fmt, **options)
    with tempfile.TemporaryDirectory() as folder:
        image, garbage = Path(folder) / "image", Path(folder) / "garbage"
        image.write_bytes(buffer.getvalue())
        garbage.write_bytes(b"\xff\xd8" + junk.replace(b"\xff", b""))  # no marker follows
        assert image_size(image) == (width, height)
        assert image_size(garbage) == (None, None)
        assert image_size(Path(folder) / "gone") == (None, None)


def test_an_uploaded_video_plays_from_the_export_and_a_linked_one_is_only_a_link(
    app, make, tmp_path
):
    site = make.site(title="Video Camp")
    film = make.media(site, content=b"\x00\x00\x00\x18ftypmp42", name="swim.mp4", mime="video/mp4")
    blocks = [
        ("video", {"media_id": film.id, "caption": "Our swim"}),
        ("video", {"url": "https://www.youtube.com/watch?v=x", "provider": "youtube"}),
    ]
    make.page(site, slug="home", title="Home", blocks=blocks)
    media = {f"media/{film.stored_name}": tmp_path / "swim.mp4"}
    written = dict(write_static_site(db.session, site, tmp_path, media, exported_at=utcnow()))
    tree = parse_strict(written["site/index.html"].read_text())
    source = tree.find(".//video/source")
    assert source.get("src") == f"../media/{film.stored_name}"
    assert source.get("type") == "video/mp4"
    links = [a.get("href") for a in tree.iterfind(".//section[@class='block video']/a")]
    assert links == ["https://www.youtube.com/watch?v=x"]
    assert tree.find(".//iframe") is None
    assert "Watch the video on YouTube" in text_of(tree.find(".//main"))


def test_the_static_copy_is_checksummed_and_sealed_like_every_member(app, tmp_path):
    _site, manifest, dest = demo_export(app, tmp_path, pages=3)
    sums = (dest / "SHA256SUMS").read_text()
    site_files = [f["path"] for f in manifest["files"] if f["path"].startswith("site/")]
    assert site_files
    for path in site_files:
        assert f"  {path}\n" in sums or f" *{path}\n" in sums, path
    assert "HMAC-SHA256" in sums


def test_a_template_cache_that_cannot_be_written_does_not_fail_the_copy(
    app, make, tmp_path, monkeypatch
):
    from app.exports.staticsite import render

    def full_disk(self, bucket):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render.FileSystemBytecodeCache, "load_bytecode", lambda self, b: None)
    monkeypatch.setattr(render.FileSystemBytecodeCache, "dump_bytecode", full_disk)
    render.environment.cache_clear()
    try:
        site = make.site(title="Cacheless Camp")
        make.page(site, slug="home", title="Home", blocks=[("text", {"html": "<p>Hi</p>"})])
        written = dict(write_static_site(db.session, site, tmp_path, {}, exported_at=utcnow()))
    finally:
        render.environment.cache_clear()
    assert "Hi" in written["site/index.html"].read_text()
