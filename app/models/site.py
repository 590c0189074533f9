"""Sites and their content: pages made of ordered blocks, and menu items."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.extensions import db
from app.models.domains import normal_domain
from app.models.types import UTCDateTime, utcnow

BLOCK_TYPES = ("text", "hero", "gallery", "video", "buttons")


class Site(db.Model):
    """One camp site, served at its subdomain (or a custom domain, kept in normal form)."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    subdomain: Mapped[str] = mapped_column(String(63), unique=True)
    custom_domain: Mapped[str | None] = mapped_column(String(255), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    tagline: Mapped[str | None] = mapped_column(String(300))
    theme: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped["User"] = relationship()  # noqa: F821
    members: Mapped[list["SiteUser"]] = relationship(  # noqa: F821
        back_populates="site", cascade="all, delete-orphan"
    )
    pages: Mapped[list["Page"]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="Page.id"
    )
    menu_items: Mapped[list["MenuItem"]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="MenuItem.position"
    )
    media: Mapped[list["MediaItem"]] = relationship(  # noqa: F821
        back_populates="site", cascade="all, delete-orphan", order_by="MediaItem.id"
    )

    @validates("custom_domain")
    def _normal_custom_domain(self, _key, value):
        """Keep a custom domain in its normal form (``app.models.domains``); refuse a non-domain."""
        return normal_domain(value)

    def __repr__(self):
        return f"<Site {self.subdomain}>"


class Page(db.Model):
    """A page of a site; its slug is unique within the site."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("site_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    site: Mapped["Site"] = relationship(back_populates="pages")
    blocks: Mapped[list["Block"]] = relationship(
        back_populates="page", cascade="all, delete-orphan", order_by="Block.position"
    )


class Block(db.Model):
    """One content block of a page; ``position`` orders the blocks."""

    __tablename__ = "blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), index=True)
    # A restore or import refuses any other type (app.dumps.valuetypes, app.sitedata.rows).
    type: Mapped[str] = mapped_column(String(32), info={"choices": BLOCK_TYPES})
    position: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    page: Mapped["Page"] = relationship(back_populates="blocks")


class MenuItem(db.Model):
    """An entry of a site's menu; ``position`` orders the menu."""

    __tablename__ = "menu_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)

    site: Mapped["Site"] = relationship(back_populates="menu_items")
