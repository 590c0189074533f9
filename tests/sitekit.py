"""Helpers of the one-site tests: camps whose blocks refer to media, and per-site snapshots."""

import os

from app.extensions import db
from app.media import uploads_dir
from app.models import MediaTag
from tests.backupkit import database_state

SITE_TABLES = ("sites", "site_users", "pages", "blocks", "menu_items", "media_items", "media_tags")


def build_camp(make, subdomain, *, owner=None, members=(), files=3):
    """Create a site with members, tagged media and hero/gallery/video blocks referring to them."""
    owner = owner or make.user(email=f"owner@{subdomain}.example")
    site = make.site(
        owner=owner,
        subdomain=subdomain,
        title=f"Camp {subdomain} ☀",
        tagline="Swim, hike, sing",
        theme={"color": "teal", "nested": {"a": [1, 2.5, None]}},
    )
    for user, role in members:
        make.member(site, user, role)
    media = [
        make.media(
            site,
            content=os.urandom(700 + 31 * n),
            name=f"photo-{n}.jpg",
            mime="image/jpeg",
            uploader=owner,
            preview=os.urandom(40) if n % 2 == 0 else None,
        )
        for n in range(files)
    ]
    media[0].tags.extend([MediaTag(tag="summer"), MediaTag(tag="lake ☀")])
    db.session.commit()
    ids = [m.id for m in media]
    make.page(
        site,
        slug="home",
        title="Home",
        blocks=[
            ("hero", {"title": "Welcome", "media_id": ids[0], "cta": {"url": "/join"}}),
            ("gallery", {"images": [{"media_id": i, "caption": f"c{i}"} for i in ids]}),
            ("video", {"url": "https://v.example/1", "poster_media_id": ids[-1]}),
            ("text", {"html": "<p>Ünïcode ✓ \u2028</p>"}),
            ("buttons", {"buttons": [{"label": "Join", "url": "/join"}]}),
        ],
    )
    make.page(site, slug="program", title="Program", blocks=[("hero", {"media_id": None})])
    make.page(site, slug="draft", title="Draft", published=False)
    make.menu_item(site, "Home", "/", 0)
    make.menu_item(site, "Program", "/program", 1)
    return site


def site_rows(state, site_id):
    """Return {table: rows} of one site in a ``database_state``."""
    rows = {"sites": [r for r in state["sites"] if r["id"] == site_id]}
    for table in ("site_users", "pages", "menu_items", "media_items", "export_jobs"):
        rows[table] = [r for r in state[table] if r["site_id"] == site_id]
    pages = {r["id"] for r in rows["pages"]}
    media = {r["id"] for r in rows["media_items"]}
    rows["blocks"] = [r for r in state["blocks"] if r["page_id"] in pages]
    rows["media_tags"] = [r for r in state["media_tags"] if r["media_id"] in media]
    return rows


def site_files(config, site_id):
    """Return {name: bytes} of a site's media folder."""
    folder = uploads_dir(config) / str(site_id)
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def snapshot(config, site_ids):
    """Return ({site id: (rows, files)}, users) for ``site_ids``: what must not change."""
    db.session.remove()
    state = database_state()
    sites = {sid: (site_rows(state, sid), site_files(config, sid)) for sid in site_ids}
    return sites, state["users"]


def all_site_ids():
    """Return the ids of every site."""
    db.session.remove()
    return [row["id"] for row in database_state()["sites"]]
