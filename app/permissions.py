"""Who may act on which site: the one place that decides."""

from sqlalchemy import select

from app.extensions import db
from app.models import Site, SiteUser

MANAGING_ROLES = ("owner", "admin")


def can_manage_site(user, site):
    """Return True when ``user`` may manage (and export) ``site``.

    Global admins may act on every site; a site's owner or admin on that site;
    nobody else, editors included.
    """
    if user is None or not getattr(user, "is_authenticated", False) or site is None:
        return False
    if user.is_global_admin or site.owner_id == user.id:
        return True
    role = db.session.scalar(
        select(SiteUser.role).where(SiteUser.site_id == site.id, SiteUser.user_id == user.id)
    )
    return role in MANAGING_ROLES


def can_use_site_history(user, site):
    """Return True when ``user`` may see ``site``'s history and restore it to a version.

    Global admins and the site's owner only: not its admins, nor its editors.
    """
    if user is None or not getattr(user, "is_authenticated", False) or site is None:
        return False
    if user.is_global_admin or site.owner_id == user.id:
        return True
    role = db.session.scalar(
        select(SiteUser.role).where(SiteUser.site_id == site.id, SiteUser.user_id == user.id)
    )
    return role == "owner"


def manageable_sites_query(user):
    """Return a select() of the sites ``user`` may manage, ordered by subdomain."""
    query = select(Site).order_by(Site.subdomain)
    if user.is_global_admin:
        return query
    member_of = select(SiteUser.site_id).where(
        SiteUser.user_id == user.id, SiteUser.role.in_(MANAGING_ROLES)
    )
    return query.where((Site.owner_id == user.id) | Site.id.in_(member_of))
