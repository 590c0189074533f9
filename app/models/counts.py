"""How much each site holds: its pages, menu items and media, counted in the database."""

from sqlalchemy import func, select

from app.models.media import MediaItem
from app.models.site import MenuItem, Page

COUNTED = (("pages", Page), ("menu", MenuItem), ("media", MediaItem))


def site_counts(session, site_ids):
    """Return {"pages"|"menu"|"media": {site_id: rows}} for ``site_ids`` (empty sites left out)."""
    counts = {}
    for name, model in COUNTED:
        rows = session.execute(
            select(model.site_id, func.count())
            .where(model.site_id.in_(site_ids))
            .group_by(model.site_id)
        )
        counts[name] = dict(rows.all())
    return counts
