"""Factories for users, sites, pages, blocks, menus and media (call inside an app context)."""

import io
import itertools

from app.extensions import db
from app.media import add_media
from app.models import Block, MenuItem, Page, Site, SiteUser, User

_seq = itertools.count(1)
PASSWORD = "correct horse battery"


def user(email=None, password=PASSWORD, admin=False):
    """Create and commit a user."""
    u = User(email=email or f"user{next(_seq)}@example.org", is_global_admin=admin)
    u.set_password(password)
    db.session.add(u)
    db.session.commit()
    return u


def site(owner=None, subdomain=None, title=None, **fields):
    """Create and commit a site with its owner membership."""
    owner = owner or user()
    n = next(_seq)
    s = Site(
        subdomain=subdomain or f"camp{n}",
        owner_id=owner.id,
        title=title or f"Camp {n}",
        theme=fields.pop("theme", {"color": "green"}),
        **fields,
    )
    db.session.add(s)
    db.session.flush()
    db.session.add(SiteUser(user_id=owner.id, site_id=s.id, role="owner"))
    db.session.commit()
    return s


def member(site, user, role):
    """Give ``user`` a ``role`` on ``site``."""
    m = SiteUser(user_id=user.id, site_id=site.id, role=role)
    db.session.add(m)
    db.session.commit()
    return m


def page(site, slug=None, title=None, blocks=(), published=True):
    """Create and commit a page with blocks given as (type, data) pairs."""
    n = next(_seq)
    p = Page(
        site_id=site.id, slug=slug or f"page-{n}", title=title or f"Page {n}", published=published
    )
    for position, (kind, data) in enumerate(blocks):
        p.blocks.append(Block(type=kind, position=position, data=data))
    db.session.add(p)
    db.session.commit()
    return p


def menu_item(site, label, url, position):
    """Create and commit a menu item."""
    m = MenuItem(site_id=site.id, label=label, url=url, position=position)
    db.session.add(m)
    db.session.commit()
    return m


def media(site, content=b"\x89PNG fake", name="photo.png", mime="image/png", uploader=None, **kw):
    """Store ``content`` as a media file of ``site`` and commit its row."""
    item = add_media(site, io.BytesIO(content), name, mime, uploaded_by=uploader, **kw)
    db.session.commit()
    return item
