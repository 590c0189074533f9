"""Uploaded media records; the files themselves live under uploads/<site_id>/."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class MediaItem(db.Model):
    """An uploaded file of a site, stored on disk under a random name."""

    __tablename__ = "media_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(String(80))
    original_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(100))
    # A tiny preview image (a few KB), kept in the row so listings need no disk read.
    preview: Mapped[bytes | None] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    site: Mapped["Site"] = relationship(back_populates="media")  # noqa: F821
    uploaded_by: Mapped["User | None"] = relationship()  # noqa: F821
    tags: Mapped[list["MediaTag"]] = relationship(
        back_populates="media", cascade="all, delete-orphan", order_by="MediaTag.tag"
    )

    @property
    def relative_path(self):
        """Return the file's path relative to the uploads dir."""
        return f"{self.site_id}/{self.stored_name}"


class MediaTag(db.Model):
    """A tag on a media item."""

    __tablename__ = "media_tags"
    __table_args__ = (UniqueConstraint("media_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(
        ForeignKey("media_items.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(64))

    media: Mapped["MediaItem"] = relationship(back_populates="tags")
