"""The state a restore replaces, saved inside the restore's own transaction so that undo is exact.

The site loader calls ``save_before`` first in its transaction, once it has
locked the site's row (``load_site(prepare=...)``); the caller holds the backup
lock and has the site in maintenance. Every row of the site is locked too
(``SELECT ... FOR UPDATE``; SQLite's write lock covers the whole database
already), so no edit can commit between what is saved and what is replaced:
an edit still in flight either committed before (and is saved) or waits for
the restore to end (and lands on the restored site). The saved copy is a plain
site export with the previews and every uploader, written beside the others
(kept ``EXPORT_RETENTION``); restoring it is the undo.
"""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.exports.export import export_site
from app.models import Block, MediaItem, MediaTag, MenuItem, Page, Site

SITES, PAGES, BLOCKS, MENU = Site.__table__, Page.__table__, Block.__table__, MenuItem.__table__
MEDIA, TAGS = MediaItem.__table__, MediaTag.__table__
CHUNK = 500


def lock_site_rows(conn, site_id):
    """Lock every row of site ``site_id`` until the transaction of ``conn`` ends.

    Only locking reads, no subquery: on MariaDB a plain read (a subquery is
    one) would fix the transaction's snapshot before the locks are granted,
    and the export would miss an edit that committed while the lock was awaited.
    """
    if conn.dialect.name == "sqlite":
        return  # the loader's first write took the database's one write lock

    def locked(query):
        return list(conn.scalars(query.with_for_update()))

    locked(sa.select(SITES.c.id).where(SITES.c.id == site_id))
    locked(sa.select(MENU.c.id).where(MENU.c.site_id == site_id))
    page_ids = locked(sa.select(PAGES.c.id).where(PAGES.c.site_id == site_id))
    media_ids = locked(sa.select(MEDIA.c.id).where(MEDIA.c.site_id == site_id))
    for start in range(0, len(page_ids), CHUNK):
        locked(sa.select(BLOCKS.c.id).where(BLOCKS.c.page_id.in_(page_ids[start : start + CHUNK])))
    for start in range(0, len(media_ids), CHUNK):
        locked(sa.select(TAGS.c.id).where(TAGS.c.media_id.in_(media_ids[start : start + CHUNK])))


def save_before(config, conn, site_id, *, progress=None):
    """Export site ``site_id`` as the transaction of ``conn`` sees it; return the ExportResult."""
    lock_site_rows(conn, site_id)
    # The session joins the transaction of ``conn`` and neither commits nor ends it.
    with Session(bind=conn) as session:
        return export_site(config, site_id, session=session, progress=progress, every_uploader=True)
