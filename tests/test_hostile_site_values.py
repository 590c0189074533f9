"""The site loader takes any JSON value in any field of an export: stored exactly, or refused.

An export is untrusted. Whatever one field holds (nesting deeper than Python
reads, integers beyond the column's range, NUL, lone surrogates, NaN,
date-times out of range or with an offset, unknown block types, values of the
wrong type), on every engine reading it (``exportformat``) and loading it
(``siterows`` and ``loader``) either stores it exactly (a date-time with an
offset as the same instant in UTC) or refuses it with the loader's one-line
InvalidSiteData naming the record, and changes nothing. No other exception
escapes.
"""

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.exports.exportformat import read_export_rows
from app.extensions import db
from app.models import BLOCK_TYPES, Block, MediaItem, MediaTag, MenuItem, Page, Site, User
from app.models.storable import utc_naive
from app.sitedata.loader import load_site
from app.sitedata.rows import InvalidSiteData
from tests.backupkit import database_state, media_state
from tests.hostilekit import hostile_texts, odd_strings, parse, targeted_texts

pytestmark = pytest.mark.integration

MOMENT = "2025-07-01T12:00:00.000001Z"
MEDIA_NAME = "ab12cd34.png"
HOSTILE = "__hostile__"

# (file, record, field) -> (the model column the value lands in, or None, how it reads back)
FIELDS = {
    ("site.json", "site", "title"): Site.__table__.c.title,
    ("site.json", "site", "tagline"): Site.__table__.c.tagline,
    ("site.json", "site", "theme"): Site.__table__.c.theme,
    ("site.json", "site", "created_at"): Site.__table__.c.created_at,
    ("pages.json", "page", "id"): None,
    ("pages.json", "page", "slug"): Page.__table__.c.slug,
    ("pages.json", "page", "title"): Page.__table__.c.title,
    ("pages.json", "page", "published"): Page.__table__.c.published,
    ("pages.json", "page", "updated_at"): Page.__table__.c.updated_at,
    ("pages.json", "block", "id"): None,
    ("pages.json", "block", "type"): Block.__table__.c.type,
    ("pages.json", "block", "position"): Block.__table__.c.position,
    ("pages.json", "block", "data"): Block.__table__.c.data,
    ("pages.json", "block", "created_at"): Block.__table__.c.created_at,
    ("menu.json", "menu", "id"): None,
    ("menu.json", "menu", "label"): MenuItem.__table__.c.label,
    ("menu.json", "menu", "url"): MenuItem.__table__.c.url,
    ("menu.json", "menu", "position"): MenuItem.__table__.c.position,
    ("media.json", "media", "id"): None,
    ("media.json", "media", "original_name"): MediaItem.__table__.c.original_name,
    ("media.json", "media", "mime_type"): MediaItem.__table__.c.mime_type,
    ("media.json", "media", "updated_at"): MediaItem.__table__.c.updated_at,
    ("media.json", "media", "uploaded_by"): None,
    ("media.json", "tag", "tag"): MediaTag.__table__.c.tag,
}
NAMED = {"site": "site", "page": "page", "block": "block", "menu": "menu", "media": "media"}
NAMED["tag"] = "media"


def export_files(site, record, field):
    """Return {file name: JSON text} of a small export, one field holding the HOSTILE mark."""
    site_json = {
        "id": site.id, "subdomain": site.subdomain, "custom_domain": None, "title": "Camp",
        "tagline": None, "theme": {"color": "teal"}, "created_at": MOMENT, "updated_at": MOMENT,
    }  # fmt: skip
    block = {
        "id": 7, "type": "hero", "position": 0, "data": {"title": "Hi", "media_id": 3},
        "created_at": MOMENT, "updated_at": MOMENT,
    }  # fmt: skip
    page = {
        "id": 5, "slug": "home", "title": "Home", "published": True, "created_at": MOMENT,
        "updated_at": MOMENT, "blocks": [block],
    }  # fmt: skip
    menu = {"id": 9, "label": "Home", "url": "/", "position": 0}
    media = {
        "id": 3, "original_name": "a.png", "mime_type": "image/png", "size": 3,
        "file": f"media/{MEDIA_NAME}", "tags": ["lake"], "uploaded_by": "owner@example.org",
        "created_at": MOMENT, "updated_at": MOMENT,
    }  # fmt: skip
    records = {"site": site_json, "page": page, "block": block, "menu": menu, "media": media}
    if record == "tag":
        media["tags"] = [HOSTILE]
    else:
        records[record][field] = HOSTILE
    return {
        "site.json": json.dumps(site_json),
        "pages.json": json.dumps([page]),
        "menu.json": json.dumps([menu]),
        "media.json": json.dumps([media]),
    }


def write_export(folder, site, where, text):
    """Write the export's JSON files and media into ``folder``; return its manifest."""
    name, record, field = where
    for file_name, content in export_files(site, record, field).items():
        if file_name == name:
            content = content.replace(json.dumps(HOSTILE), text)
        (folder / file_name).write_bytes(content.encode("utf-8", "surrogatepass"))
    (folder / "media").mkdir()
    (folder / "media" / MEDIA_NAME).write_bytes(b"png")
    return {
        "export_format_version": 1,  # media items without a preview, as version 1 writes them
        "site": {"id": site.id, "subdomain": site.subdomain},
        "files": [{"path": f"media/{MEDIA_NAME}", "size": 3}],
    }


def stored(site_id, record, column):
    """Return the value of ``column`` in the site's one row of ``record`` (the loaded site)."""
    with db.engine.connect() as conn:
        if record == "site":
            query = sa.select(column).where(Site.id == site_id)
        elif record == "block":
            query = sa.select(column).join(Page, Page.id == Block.page_id)
            query = query.where(Page.site_id == site_id)
        elif record == "tag":
            query = sa.select(column).join(MediaItem, MediaItem.id == MediaTag.media_id)
            query = query.where(MediaItem.site_id == site_id)
        else:
            query = sa.select(column).where(column.table.c.site_id == site_id)
        return conn.execute(query).scalar_one()


def expected(column, value, site_id):
    """Return how the accepted ``value`` of ``column`` reads back from the database."""
    if isinstance(column.type, sa.DateTime):
        return utc_naive(dt.datetime.fromisoformat(value))
    if column is Block.__table__.c.data:
        media_id = stored(site_id, "media", MediaItem.id)
        return _remap(value, media_id)
    return value


def _remap(data, media_id):
    from app.sitedata.rows import rewrite_media_references

    return rewrite_media_references(data, {3: media_id})


def texts_for(where):
    """Return JSON texts for one field: the hostile ones, and those aimed at its column."""
    column = FIELDS[where]
    aimed = targeted_texts(column) if column is not None else st.integers().map(str)
    return hostile_texts | aimed | odd_strings.map(json.dumps)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(where=st.sampled_from(sorted(FIELDS)), data=st.data())
def test_any_field_is_stored_exactly_or_refused_naming_it(
    any_app, make, tmp_path_factory, where, data
):
    text = data.draw(texts_for(where), label="value")
    site = Site.query.filter_by(subdomain="camp").one_or_none()
    if site is None:
        site = make.site(owner=make.user(email="owner@example.org"), subdomain="camp")
    site_id = site.id
    folder = tmp_path_factory.mktemp("export")
    manifest = write_export(folder, site, where, text)
    db.session.remove()
    before = (database_state(), media_state(any_app.config))

    try:
        rows = read_export_rows(folder, manifest)
        load_site(any_app.config, db.engine, rows, replace_site_id=site_id)
    except InvalidSiteData as exc:
        event("refused")
        message = str(exc)
        assert "\n" not in message
        assert NAMED[where[1]] in message.lower() or where[0] in message, message
        assert (database_state(), media_state(any_app.config)) == before
        return

    event("accepted")
    column = FIELDS[where]
    if column is None:  # ids are the export's own, uploaders are matched to users
        if where[2] == "uploaded_by":
            owner = db.session.execute(sa.select(User.id, User.email)).one()
            value = parse(text)
            match = isinstance(value, str) and value.lower() == owner.email.lower()
            assert stored(site_id, "media", MediaItem.uploaded_by_id) == (
                owner.id if match else None
            )
        return
    value = parse(text)
    if value is None and isinstance(column.type, sa.DateTime):
        assert isinstance(stored(site_id, where[1], column), dt.datetime)  # "now"
        return
    assert stored(site_id, where[1], column) == expected(column, value, site_id)
    assert stored(site_id, "block", Block.type) in BLOCK_TYPES  # never an unknown type


@pytest.mark.parametrize("twin", ["home ", "home  ", "home\t"])
def test_slugs_one_engine_takes_for_the_same_are_refused_there(any_app, make, tmp_path, twin):
    """MariaDB's unique index ignores trailing spaces: such twins are refused there, by name."""
    site = make.site(owner=make.user(email="owner@example.org"), subdomain="camp")
    manifest = write_export(tmp_path, site, ("pages.json", "page", "slug"), '"home"')
    pages = json.loads((tmp_path / "pages.json").read_text())
    pages.append({**pages[0], "id": 6, "slug": twin, "blocks": []})
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    db.session.remove()
    before = database_state()
    rows = read_export_rows(tmp_path, manifest)
    same = db.engine.dialect.name in ("mysql", "mariadb") and twin.rstrip(" ") == "home"
    if same:
        with pytest.raises(InvalidSiteData, match="two pages have the slug"):
            load_site(any_app.config, db.engine, rows, replace_site_id=site.id)
        assert database_state() == before
    else:
        load_site(any_app.config, db.engine, rows, replace_site_id=site.id)
        with db.engine.connect() as conn:
            slugs = conn.scalars(sa.select(Page.slug).where(Page.site_id == site.id)).all()
        assert sorted(slugs) == sorted(["home", twin])
