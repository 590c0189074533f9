"""Site rows: one site's data as plain dicts, the one shape the site loader takes, and its checks.

Both ways of bringing a site back produce them: a site export's JSON files
(``app.exports.exportformat``) and a system backup's dump (``app.backup.siterows``).
They are checked here completely before anything is written::

    {"site": {"id", "subdomain", "custom_domain", "title", "tagline", "theme",
              "created_at", "updated_at", "owner"},        # owner: an email, or None
     "members": [{"id", "email", "role", "created_at"}],   # or None: keep the current ones
     "pages": [{"id", "slug", "title", "published", "created_at", "updated_at",
                "blocks": [{"id", "type", "position", "data", "created_at", "updated_at"}]}],
     "menu": [{"id", "label", "url", "position"}],
     "media": [{"id", "stored_name", "original_name", "mime_type", "size", "preview",
                "uploaded_by", "tags": [{"id", "tag"}], "created_at", "updated_at",
                "source"}]}                                 # source: Path of the bytes, or None

Every value must also be one the database engine stores exactly
(``app.models.storable``: integer ranges, NUL and lone surrogates, JSON depth),
and every block of a type this app knows (``BLOCK_TYPES``).

Ids are the ones the data came with; they only have to be unique within the
site. Users are named by email (they are global: the loader matches them with
the users that exist). Blocks refer to media by id in any key named
``media_id`` or ending in ``_media_id``, at any depth of their data
(``media_id``, ``poster_media_id``, ``images[].media_id``).
"""

import datetime as dt
import re
from pathlib import Path

from app.archive import CorruptArchive
from app.errors import REFUSED, ExportError
from app.models import (
    BLOCK_TYPES,
    ROLES,
    Block,
    InvalidDomain,
    MediaItem,
    MediaTag,
    MenuItem,
    Page,
    Site,
    SiteUser,
    User,
    integer_range,
    json_problem,
    normal_domain,
    text_byte_limit,
    text_problem,
)

# Stored names are random hex plus a suffix (see app.media); nothing else is a safe file name.
STORED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidSiteData(ExportError, CorruptArchive):
    """The site's data is inconsistent or not of the documented format; nothing was changed."""

    exit_code = REFUSED


def is_media_key(key):
    """Return True for the keys of block data that hold a media id."""
    return isinstance(key, str) and (key == "media_id" or key.endswith("_media_id"))


def media_references(data):
    """Yield every media id (or None) referenced anywhere in block ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            if is_media_key(key):
                yield value
            else:
                yield from media_references(value)
    elif isinstance(data, list):
        for value in data:
            yield from media_references(value)


def rewrite_media_references(data, mapping):
    """Return a copy of block ``data`` with every media id mapped through ``mapping``.

    An id ``mapping`` does not know (a dangling reference, allowed only when a
    site is put back as it was: see ``check_site_rows``) is kept as it is.
    """
    if isinstance(data, dict):
        return {
            key: (
                mapping.get(value, value)
                if is_media_key(key) and value is not None
                else rewrite_media_references(value, mapping)
            )
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [rewrite_media_references(value, mapping) for value in data]
    return data


class _Checks:
    """The field checks, for the engine the rows are written to (its dialect name)."""

    def __init__(self, dialect):
        self.dialect = dialect

    def text(self, where, value, *, model=None, column=None, nullable=False):
        """Check a string field (length from the model's column); return it."""
        if value is None and nullable:
            return value
        if not isinstance(value, str):
            raise InvalidSiteData(f"{where} must be a string")
        kind = model.__table__.c[column].type if model is not None else None
        limit = getattr(kind, "length", None)
        if limit is not None and len(value) > limit:
            raise InvalidSiteData(f"{where} is longer than {limit} characters")
        problem = text_problem(value, self.dialect, text_byte_limit(kind, self.dialect))
        if problem:
            raise InvalidSiteData(f"{where} {problem}")
        return value

    def int(self, where, value, *, model, column, nullable=False, minimum=None):
        """Check an integer field against its column's range on this engine; return it."""
        if value is None and nullable:
            return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidSiteData(f"{where} must be an integer")
        if minimum is not None and value < minimum:
            raise InvalidSiteData(f"{where} must be at least {minimum}")
        lowest, highest = integer_range(model.__table__.c[column].type, self.dialect)
        if not lowest <= value <= highest:
            raise InvalidSiteData(f"{where} is out of range ({lowest} to {highest})")
        return value

    def unique_key(self, text):
        """Return what a unique index of this engine compares ``text`` by.

        MariaDB's collations ignore trailing spaces ("home" and "home " are one).
        """
        return text.rstrip(" ") if self.dialect in ("mysql", "mariadb") else text

    def json(self, where, value):
        """Check a JSON object field (theme, block data)."""
        if not isinstance(value, dict):
            raise InvalidSiteData(f"{where} must be an object")
        problem = json_problem(value, self.dialect)
        if problem:
            raise InvalidSiteData(f"{where} {problem}")


def _time(where, value):
    if value is not None and not isinstance(value, dt.datetime):
        raise InvalidSiteData(f"{where} must be a time")
    if value is not None and value.tzinfo is not None:
        raise InvalidSiteData(f"{where} must be a UTC time without an offset")


def _unique_ids(c, kind, records, model):
    ids = [r["id"] for r in records if r["id"] is not None]
    for value in ids:
        c.int(f"{kind} id", value, model=model, column="id", minimum=1)
    if len(ids) != len(set(ids)):
        raise InvalidSiteData(f"two {kind} have the same id")


def _check_site(c, site):
    c.int("site id", site.get("id"), model=Site, column="id", nullable=True, minimum=1)
    subdomain = c.text("site subdomain", site.get("subdomain"), model=Site, column="subdomain")
    if not SUBDOMAIN.match(subdomain):
        raise InvalidSiteData(f"site subdomain {subdomain!r} is not a valid subdomain")
    c.text(
        "custom domain",
        site.get("custom_domain"),
        model=Site,
        column="custom_domain",
        nullable=True,
    )
    try:
        normal_domain(site.get("custom_domain"))
    except InvalidDomain as exc:
        raise InvalidSiteData(f"site custom domain: {exc}") from None
    c.text("site title", site.get("title"), model=Site, column="title")
    c.text("site tagline", site.get("tagline"), model=Site, column="tagline", nullable=True)
    if not isinstance(site.get("theme"), dict):
        raise InvalidSiteData("site theme must be an object")
    c.json("site theme", site.get("theme"))
    c.text("site owner", site.get("owner"), nullable=True)
    for key in ("created_at", "updated_at"):
        _time(f"site {key}", site.get(key))


def _check_pages(c, pages):
    _unique_ids(c, "pages", pages, Page)
    slugs = set()
    blocks = []
    for page in pages:
        where = f"page {page['id']}"
        slug = c.text(f"{where} slug", page["slug"], model=Page, column="slug")
        if c.unique_key(slug) in slugs:
            raise InvalidSiteData(f"two pages have the slug {slug!r}")
        slugs.add(c.unique_key(slug))
        c.text(f"{where} title", page["title"], model=Page, column="title")
        if not isinstance(page["published"], bool):
            raise InvalidSiteData(f"{where} published must be true or false")
        for key in ("created_at", "updated_at"):
            _time(f"{where} {key}", page[key])
        for block in page["blocks"]:
            bwhere = f"block {block['id']} of {where}"
            kind = c.text(f"{bwhere} type", block["type"], model=Block, column="type")
            if kind not in BLOCK_TYPES:
                raise InvalidSiteData(
                    f"{bwhere} has the type {kind!r}, not one this app knows "
                    f"({', '.join(BLOCK_TYPES)})"
                )
            c.int(f"{bwhere} position", block["position"], model=Block, column="position")
            c.json(f"{bwhere} data", block["data"])
            for key in ("created_at", "updated_at"):
                _time(f"{bwhere} {key}", block[key])
            blocks.append(block)
    _unique_ids(c, "blocks", blocks, Block)
    return blocks


def _check_media(c, media):
    _unique_ids(c, "media items", media, MediaItem)
    names, tag_rows = set(), []
    for item in media:
        where = f"media item {item['id']}"
        name = c.text(
            f"{where} stored name", item["stored_name"], model=MediaItem, column="stored_name"
        )
        if not STORED_NAME.fullmatch(name):
            raise InvalidSiteData(f"{where} has an unsafe file name {name!r}")
        if name in names:
            raise InvalidSiteData(f"two media items share the file {name!r}")
        names.add(name)
        c.text(
            f"{where} original name", item["original_name"], model=MediaItem, column="original_name"
        )
        c.text(f"{where} mime type", item["mime_type"], model=MediaItem, column="mime_type")
        c.int(f"{where} size", item["size"], model=MediaItem, column="size", minimum=0)
        if item["preview"] is not None and not isinstance(item["preview"], bytes):
            raise InvalidSiteData(f"{where} preview must be bytes")
        c.text(f"{where} uploader", item["uploaded_by"], nullable=True)
        for key in ("created_at", "updated_at"):
            _time(f"{where} {key}", item[key])
        source = item["source"]
        if source is not None:
            if not isinstance(source, Path) or not source.is_file() or source.is_symlink():
                raise InvalidSiteData(f"{where}: its file is missing")
            if source.stat().st_size != item["size"]:
                raise InvalidSiteData(f"{where}: its file is not {item['size']} bytes")
        tags = set()
        for tag in item["tags"]:
            text = c.text(f"{where} tag", tag["tag"], model=MediaTag, column="tag")
            if c.unique_key(text) in tags:
                raise InvalidSiteData(f"{where} has the tag {text!r} twice")
            tags.add(c.unique_key(text))
            tag_rows.append(tag)
    _unique_ids(c, "media tags", tag_rows, MediaTag)


def _check_menu(c, menu):
    _unique_ids(c, "menu items", menu, MenuItem)
    for item in menu:
        where = f"menu item {item['id']}"
        c.text(f"{where} label", item["label"], model=MenuItem, column="label")
        c.text(f"{where} url", item["url"], model=MenuItem, column="url")
        c.int(f"{where} position", item["position"], model=MenuItem, column="position")


def _check_members(c, members):
    _unique_ids(c, "memberships", members, SiteUser)
    emails = set()
    for member in members:
        email = c.text("member email", member["email"], model=User, column="email")
        if c.unique_key(email.lower()) in emails:
            raise InvalidSiteData(f"{email} is a member twice")
        emails.add(c.unique_key(email.lower()))
        if member["role"] not in ROLES:
            raise InvalidSiteData(f"{email} has the unknown role {member['role']!r}")
        _time(f"membership of {email}", member["created_at"])


def check_site_rows(rows, dialect, *, dangling=False):
    """Raise InvalidSiteData unless ``rows`` is complete, well-typed and refers only to itself.

    ``dialect`` names the engine the rows are written to: every value must be
    one it stores exactly. With ``dangling`` (a site put back as it was, keeping
    its ids) a block may refer to a media item the site no longer holds, as the
    live site's block did.
    """
    c = _Checks(dialect)
    try:
        _check_site(c, rows["site"])
        blocks = _check_pages(c, rows["pages"])
        _check_media(c, rows["media"])
        _check_menu(c, rows["menu"])
        if rows["members"] is not None:
            _check_members(c, rows["members"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidSiteData(f"the site's data is incomplete ({exc!s})") from None
    media_ids = {item["id"] for item in rows["media"]}
    for block in blocks:
        for ref in media_references(block["data"]):
            if ref is None:
                continue
            if not isinstance(ref, int) or isinstance(ref, bool):
                raise InvalidSiteData(f"block {block['id']} refers to media {ref!r}, not an id")
            if ref not in media_ids and not dangling:
                raise InvalidSiteData(
                    f"block {block['id']} refers to media item {ref}, which this site does not hold"
                )
