"""Which sites a system backup holds, and what each held then against what it holds now.

The backups page shows this before a site is rolled back: pages, media and the
last change, in the backup (read from the dump members of the archive, which
come first, so the media after them are never read) and live (the database).
"""

import json

import sqlalchemy as sa

from app.archive import read_manifest, read_member
from app.backup import catalog
from app.backup.errors import CorruptArchive
from app.models import MediaItem, Page, Site, parse_utc
from app.sitedata import dump_member

MAX_DUMP = 256 * 1024 * 1024


def _rows(path, manifest, table):
    data = read_member(path, dump_member(manifest["tables"], table), max_bytes=MAX_DUMP)
    try:
        return [json.loads(line) for line in data.splitlines() if line.strip()]
    except ValueError:
        raise CorruptArchive(f"{path.name}: the {table} dump is damaged") from None


def _latest(*moments):
    moments = [parse_utc(m) if isinstance(m, str) else m for m in moments if m]
    return max(moments, default=None)


def sites_in_backup(config, backup_id):
    """Return {subdomain: {title, pages, media, last_change}} of every site the backup holds."""
    path = catalog.backup_path(config, backup_id)
    manifest = read_manifest(path)
    catalog.check_system_manifest(manifest, path.name)
    pages, media = {}, {}
    for row in _rows(path, manifest, "pages"):
        pages.setdefault(row["site_id"], []).append(row.get("updated_at"))
    for row in _rows(path, manifest, "media_items"):
        media.setdefault(row["site_id"], []).append(row.get("updated_at"))
    sites = {}
    for row in _rows(path, manifest, "sites"):
        sid = row["id"]
        sites[row["subdomain"]] = {
            "title": row.get("title"),
            "pages": len(pages.get(sid, [])),
            "media": len(media.get(sid, [])),
            "last_change": _latest(row.get("updated_at"), *pages.get(sid, []), *media.get(sid, [])),
        }
    return dict(sorted(sites.items()))


def live_site(session, subdomain):
    """Return {title, pages, media, last_change} of live site ``subdomain``, or None."""
    site = session.scalar(sa.select(Site).where(Site.subdomain == subdomain))
    if site is None:
        return None
    pages = session.execute(
        sa.select(sa.func.count(Page.id), sa.func.max(Page.updated_at)).where(
            Page.site_id == site.id
        )
    ).one()
    media = session.execute(
        sa.select(sa.func.count(MediaItem.id), sa.func.max(MediaItem.updated_at)).where(
            MediaItem.site_id == site.id
        )
    ).one()
    return {
        "title": site.title,
        "pages": pages[0],
        "media": media[0],
        "last_change": _latest(site.updated_at, pages[1], media[1]),
    }
