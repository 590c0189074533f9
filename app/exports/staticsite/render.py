"""Write a site's static copy: ``site/index.html``, a file per published page, 404.html, style.css.

Pages are rendered one at a time, their blocks read in batches, with
the Jinja templates in ``app/templates/public/`` (a page, and one partial per
block type). Media are not copied: the pages refer to the export's own
``media/`` files.
"""

import hashlib
import re
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined
from sqlalchemy import select

from app.exports.staticsite.blocks import VIEWS, block_view, printable_output
from app.exports.staticsite.imagesize import image_size
from app.exports.staticsite.urls import (
    INDEX,
    NOT_FOUND,
    STYLESHEET,
    MediaRef,
    StaticUrls,
    page_files,
)
from app.models import Block, MediaItem, MenuItem, Page

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SITE_DIR = "site"
BATCH = 200
HOME_SLUG = "home"
# A theme colour goes into a <style> element: only plain colour values pass.
COLOR = re.compile(r"#[0-9A-Fa-f]{3,8}|[A-Za-z]{3,20}")


ENVIRONMENT_OPTIONS = {
    "autoescape": True,
    "undefined": StrictUndefined,
    "auto_reload": False,
    "finalize": printable_output,
    "trim_blocks": True,
    "lstrip_blocks": True,
}


class _TemplateCache(FileSystemBytecodeCache):
    """Jinja's files of compiled templates; one it cannot write is skipped, never an error."""

    def dump_bytecode(self, bucket):
        with suppress(OSError):
            super().dump_bytecode(bucket)


@lru_cache(maxsize=1)
def environment():
    """Return the Jinja environment of the public templates (autoescaped, strict).

    Compiled templates are kept in Jinja's per-user cache folder (in the system's
    temporary folder), so a new worker process does not compile them again; the
    cache files are named for these options, which Jinja's own key leaves out.
    """
    options = repr(
        sorted((k, getattr(v, "__qualname__", v)) for k, v in ENVIRONMENT_OPTIONS.items())
    )
    key = hashlib.sha256(options.encode()).hexdigest()[:16]
    try:
        cache = _TemplateCache(pattern=f"__stinkykitty_public_{key}_%s.cache")
    except (OSError, RuntimeError):  # no private cache folder to be had: compile every time
        cache = None
    return Environment(
        loader=FileSystemLoader(TEMPLATES), bytecode_cache=cache, **ENVIRONMENT_OPTIONS
    )


class _ImageSizes:
    """Width and height of image files, read from their headers once each."""

    def __init__(self):
        self.known = {}

    def __call__(self, ref):
        if ref.href not in self.known:
            self.known[ref.href] = image_size(ref.path)
        return self.known[ref.href]


def _media_refs(session, site_id, media_files):
    """Return {media id: MediaRef} of the site's media whose file the export holds."""
    refs = {}
    rows = session.execute(
        select(MediaItem.id, MediaItem.stored_name, MediaItem.mime_type).where(
            MediaItem.site_id == site_id
        )
    )
    for media_id, stored_name, mime_type in rows:
        member = f"media/{stored_name}"
        if member in media_files:
            refs[media_id] = MediaRef(f"../{member}", mime_type or "", media_files[member])
    return refs


def _with_blocks(session, pages):
    """Yield (slug, title, [(block type, data)]) of ``pages`` (id, slug, title), in batches."""
    for start in range(0, len(pages), BATCH):
        batch = pages[start : start + BATCH]
        blocks = {page_id: [] for page_id, _slug, _title in batch}
        for page_id, kind, data in session.execute(
            select(Block.page_id, Block.type, Block.data)
            .where(Block.page_id.in_(list(blocks)))
            .order_by(Block.page_id, Block.position, Block.id)
        ):
            blocks[page_id].append((kind, data))
        for page_id, slug, title in batch:
            yield slug, title, blocks[page_id]


def _accent(theme):
    color = theme.get("color") if isinstance(theme, dict) else None
    return color if isinstance(color, str) and COLOR.fullmatch(color) else None


def write_static_site(session, site, folder, media_files, *, exported_at):
    """Write ``site``'s static copy under ``folder/site``; return its (archive name, path) pairs.

    ``media_files`` maps the export's media members (``media/<name>``) to their files.
    """
    out = Path(folder) / SITE_DIR
    out.mkdir()
    # Every published page's id, slug and title (a few hundred bytes each); blocks come in batches.
    pages = session.execute(
        select(Page.id, Page.slug, Page.title)
        .where(Page.site_id == site.id, Page.published.is_(True))
        .order_by(Page.id)
    ).all()
    slugs = [slug for _id, slug, _title in pages]
    home = HOME_SLUG if HOME_SLUG in slugs else (slugs[0] if slugs else None)
    files = page_files((page_id, slug) for page_id, slug, _title in pages)
    urls = StaticUrls(files, home, _media_refs(session, site.id, media_files))
    menu = [
        {"label": label, "href": urls.link(url)}
        for label, url in session.execute(
            select(MenuItem.label, MenuItem.url)
            .where(MenuItem.site_id == site.id)
            .order_by(MenuItem.position, MenuItem.id)
        )
    ]
    env = environment()
    # One partial per block type: a macro ``show(block)``, loaded once per copy.
    partials = {kind: env.get_template(f"public/blocks/{kind}.html").module.show for kind in VIEWS}
    common = {
        "partials": partials,
        "site": {"title": site.title, "tagline": site.tagline},
        "menu": menu,
        "urls": urls,
        "home": home,
        "accent": _accent(site.theme),
        "exported_on": f"{exported_at:%Y-%m-%d}",
    }
    written = []

    def write(name, template, **values):
        path = out / name
        path.write_text(env.get_template(template).render(**common, **values), encoding="utf-8")
        written.append((f"{SITE_DIR}/{name}", path))

    (out / STYLESHEET).write_bytes((TEMPLATES / "public" / STYLESHEET).read_bytes())
    written.append((f"{SITE_DIR}/{STYLESHEET}", out / STYLESHEET))
    write(NOT_FOUND, "public/not_found.html", current=None)
    if home is None:
        write(INDEX, "public/empty.html", current=INDEX)
    sizes = _ImageSizes()
    for slug, title, blocks in _with_blocks(session, pages):
        views = [v for t, d in blocks if (v := block_view(t, d, urls, sizes)) is not None]
        values = {"page": {"title": title}, "blocks": views, "current": urls.page(slug)}
        if slug == home:
            write(INDEX, "public/page.html", **values)
        write(urls.pages[slug], "public/page.html", **values)
    return written
