"""The data files of a site export: README.md, site.json, pages.json, menu.json, media.json.

Each is written to a scratch folder a record at a time (pages and media in
batches), so memory does not grow with the size of the site.
"""

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.config import data_path
from app.models import Block, MediaItem, MenuItem, Page, SiteUser, User, format_utc

EXPORT_FORMAT = "stinkykitty-site-export"
# 2: media items carry their preview (base64), and the export may carry the site as static
# HTML under site/; version 1 exports, without either, still import.
EXPORT_FORMAT_VERSION = 2
BATCH = 200
# Stored names are random hex plus a suffix; anything else would not be a safe archive path.
STORED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
README_TEMPLATE = Path(__file__).with_name("readme.md")


@dataclass
class ExportData:
    """The files written so far: (archive name, path) pairs, media members and counts."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    media: list[tuple[str, Path, int]] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


class _JsonArrayWriter:
    """Write a JSON array to a file one element at a time."""

    def __init__(self, path):
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115  (closed in __exit__)
        self.count = 0

    def __enter__(self):
        self.file.write("[")
        return self

    def add(self, item):
        self.file.write(",\n" if self.count else "\n")
        self.file.write(json.dumps(item, ensure_ascii=False, indent=2))
        self.count += 1

    def __exit__(self, *exc):
        self.file.write("\n]\n" if self.count else "]\n")
        self.file.close()


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=2)
        f.write("\n")


def _batches(session, query, key):
    """Yield lists of rows of ``query`` in ascending ``key`` order, BATCH at a time."""
    last = None
    while True:
        batch_query = query if last is None else query.where(key > last)
        rows = list(session.scalars(batch_query.order_by(key).limit(BATCH)))
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], key.key)


def site_settings(site):
    """Return the settings of ``site`` as exported in site.json."""
    return {
        "id": site.id,
        "subdomain": site.subdomain,
        "custom_domain": site.custom_domain,
        "title": site.title,
        "tagline": site.tagline,
        "theme": site.theme or {},
        "created_at": format_utc(site.created_at),
        "updated_at": format_utc(site.updated_at),
    }


def _write_pages(session, site_id, path, counts):
    pages_query = select(Page).where(Page.site_id == site_id)
    blocks = 0
    with _JsonArrayWriter(path) as out:
        for pages in _batches(session, pages_query, Page.id):
            by_page = {p.id: [] for p in pages}
            for block in session.scalars(
                select(Block)
                .where(Block.page_id.in_(list(by_page)))
                .order_by(Block.page_id, Block.position, Block.id)
            ):
                by_page[block.page_id].append(
                    {
                        "id": block.id,
                        "type": block.type,
                        "position": block.position,
                        "data": block.data,
                        "created_at": format_utc(block.created_at),
                        "updated_at": format_utc(block.updated_at),
                    }
                )
            for page in pages:
                out.add(
                    {
                        "id": page.id,
                        "slug": page.slug,
                        "title": page.title,
                        "published": page.published,
                        "created_at": format_utc(page.created_at),
                        "updated_at": format_utc(page.updated_at),
                        "blocks": by_page[page.id],
                    }
                )
                blocks += len(by_page[page.id])
        counts.update(pages=out.count, blocks=blocks)


def _write_menu(session, site_id, path, counts):
    with _JsonArrayWriter(path) as out:
        for item in session.scalars(
            select(MenuItem)
            .where(MenuItem.site_id == site_id)
            .order_by(MenuItem.position, MenuItem.id)
        ):
            out.add(
                {"id": item.id, "label": item.label, "url": item.url, "position": item.position}
            )
        counts["menu_items"] = out.count


def _member_emails(session, site, every_uploader=False):
    """Return {user id: email} of the site's owner and current members, the only emails exported.

    With ``every_uploader`` (the server's own copy for undo, never handed out),
    also those of the site's uploaders who are no longer members.
    """
    ids = select(SiteUser.user_id).where(SiteUser.site_id == site.id)
    wanted = (User.id == site.owner_id) | User.id.in_(ids)
    if every_uploader:
        uploaders = select(MediaItem.uploaded_by_id).where(MediaItem.site_id == site.id)
        wanted = wanted | User.id.in_(uploaders)
    return dict(session.execute(select(User.id, User.email).where(wanted)).all())


def _preview(item):
    return base64.b64encode(item.preview).decode("ascii") if item.preview is not None else None


def _write_media(session, config, site, path, data, every_uploader):
    uploads = data_path(config, "uploads", str(site.id))
    emails = _member_emails(session, site, every_uploader)
    query = (
        select(MediaItem).where(MediaItem.site_id == site.id).options(selectinload(MediaItem.tags))
    )
    files = missing = total_bytes = 0
    with _JsonArrayWriter(path) as out:
        for items in _batches(session, query, MediaItem.id):
            for item in items:
                file_path = uploads / item.stored_name
                safe = bool(STORED_NAME.fullmatch(item.stored_name))
                size = file_path.stat().st_size if safe and file_path.is_file() else None
                member = f"media/{item.stored_name}" if size is not None else None
                if member:
                    data.media.append((member, file_path, size))
                    files += 1
                    total_bytes += size
                else:
                    missing += 1
                out.add(
                    {
                        "id": item.id,
                        "original_name": item.original_name,
                        "mime_type": item.mime_type,
                        "size": size if size is not None else item.size,
                        "file": member,
                        "tags": [t.tag for t in item.tags],
                        "uploaded_by": emails.get(item.uploaded_by_id),
                        "created_at": format_utc(item.created_at),
                        "updated_at": format_utc(item.updated_at),
                        "preview": _preview(item),
                    }
                )
        data.counts.update(
            media=out.count, media_files=files, media_missing=missing, media_bytes=total_bytes
        )


def write_data_files(session, config, site, folder, *, exported_at, every_uploader=False):
    """Write the data files of ``site`` into ``folder``; return an ExportData.

    ``every_uploader``: name every uploader, members or not (see ``_member_emails``).
    """
    data = ExportData()
    settings = site_settings(site)
    site_id = site.id
    _write_json(folder / "site.json", settings)
    _write_pages(session, site_id, folder / "pages.json", data.counts)
    _write_menu(session, site_id, folder / "menu.json", data.counts)
    _write_media(session, config, site, folder / "media.json", data, every_uploader)
    readme = Template(README_TEMPLATE.read_text(encoding="utf-8")).safe_substitute(
        title=settings["title"],
        subdomain=settings["subdomain"],
        exported_at=format_utc(exported_at),
        format=EXPORT_FORMAT,
        version=EXPORT_FORMAT_VERSION,
        **{k: data.counts[k] for k in ("pages", "blocks", "menu_items", "media")},
    )
    (folder / "README.md").write_text(readme, encoding="utf-8")
    data.files = [
        (name, folder / name)
        for name in ("README.md", "site.json", "pages.json", "menu.json", "media.json")
    ]
    return data
