"""Users and their membership of sites."""

from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

ROLES = ("owner", "admin", "editor")
DEFAULT_HASH_METHOD = "scrypt"


class User(UserMixin, db.Model):
    """A person who can log in; global admins act on every site."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_global_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    memberships: Mapped[list["SiteUser"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def set_password(self, password):
        """Store a salted hash of ``password`` (the app's PASSWORD_HASH_METHOD, else scrypt)."""
        method = DEFAULT_HASH_METHOD
        if has_app_context():
            method = current_app.config.get("PASSWORD_HASH_METHOD", DEFAULT_HASH_METHOD)
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password):
        """Return True when ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def __repr__(self):
        return f"<User {self.email}>"


class SiteUser(db.Model):
    """A user's role on one site: owner, admin or editor."""

    __tablename__ = "site_users"
    __table_args__ = (UniqueConstraint("user_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), info={"choices": ROLES})
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped["User"] = relationship(back_populates="memberships")
    site: Mapped["Site"] = relationship(back_populates="members")  # noqa: F821
