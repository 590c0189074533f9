"""The Alembic migration creates the schema on SQLite, MariaDB and PostgreSQL."""

import sqlalchemy as sa

from app.extensions import db


def test_migration_creates_every_model_table(any_app):
    inspector = sa.inspect(db.engine)
    tables = set(inspector.get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_round_trip_on_every_engine(any_app, make):
    owner = make.user(email="ünïcode@example.org")
    site = make.site(owner=owner, theme={"color": "teal", "fonts": ["a", "b"]})
    page = make.page(site, blocks=[("text", {"html": "<p>hi ☃</p>"}), ("hero", {"title": "x"})])
    item = make.media(site, content=b"\x00\x01binary", preview=b"\xff\x00")
    db.session.expire_all()
    assert [b.type for b in db.session.get(type(page), page.id).blocks] == ["text", "hero"]
    assert db.session.get(type(site), site.id).theme == {"color": "teal", "fonts": ["a", "b"]}
    assert db.session.get(type(item), item.id).preview == b"\xff\x00"
    assert (
        db.session.get(type(owner), owner.id).created_at.microsecond == owner.created_at.microsecond
    )
