"""Golden backups: what each must restore to, written and compared as plain JSON.

A listing holds the schema revision, every row of every table (primary-key
order, datetimes as ISO text with microseconds, binary as base64) and every
media file's SHA-256. Values are encoded here, independently of the dump
codecs, so a codec bug cannot hide in both sides of a comparison.
"""

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import sqlalchemy as sa

from app.dumps.dump import database_revision
from app.extensions import db
from app.media import uploads_dir

GOLDEN_DIR = Path(__file__).resolve().parent / "fixtures" / "golden"


def golden_backups():
    """Return the golden archives, oldest revision first (by file name)."""
    return sorted(GOLDEN_DIR.glob("*.tar.gz"))


def plain(value):
    """Return ``value`` as JSON-ready data."""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value).decode("ascii")
    return value


def rows_of(engine, tables):
    """Return {table: [row as plain dict]} of ``tables`` on ``engine``, in primary-key order."""
    out = {}
    with engine.connect() as conn:
        for table in tables:
            result = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[table.name] = [{k: plain(v) for k, v in row.items()} for row in result.mappings()]
    return out


def files_of(config):
    """Return {relative path: SHA-256} of every file under uploads/."""
    root = uploads_dir(config)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def listing(config, engine=None, tables=None):
    """Return the listing of the live database and media (tables: default the models')."""
    db.session.remove()
    engine = engine or db.engine
    with engine.connect() as conn:
        revision = database_revision(conn)
    return {
        "revision": revision,
        "tables": rows_of(engine, tables or db.metadata.sorted_tables),
        "files": files_of(config),
    }


def write_listing(data, path):
    """Write a listing as stable, readable JSON."""
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def read_listing(archive):
    """Return the listing kept beside a golden archive."""
    name = Path(archive).name.removesuffix(".tar.gz") + ".listing.json"
    return json.loads((Path(archive).parent / name).read_text())


def unplain(value, column):
    """Return listing ``value`` as the Python value of ``column`` (the inverse of ``plain``)."""
    if value is None:
        return None
    if isinstance(column.type, sa.DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(column.type, sa.LargeBinary):
        return base64.b64decode(value.removeprefix("base64:"))
    return value


def expected_at_head(config, golden, scratch_path):
    """Return the rows ``golden``'s listing becomes at head when migrated in place.

    The oracle of a restore through migrations: the listing's rows go into an
    empty SQLite at their own revision by plain inserts, and Alembic upgrades
    that database where it stands (no dump, no load, no swap).
    """
    from app.backup.restore import upgrade

    engine = upgrade.scratch_engine(scratch_path)
    try:
        upgrade.migrate(config, engine, golden["revision"])
        schema = upgrade.generic_schema(engine)
        with engine.begin() as conn:
            for table in schema.sorted_tables:
                rows = [
                    {k: unplain(v, table.c[k]) for k, v in row.items()}
                    for row in golden["tables"][table.name]
                ]
                if rows:
                    conn.execute(table.insert(), rows)
        upgrade.migrate(config, engine, "heads")
        return rows_of(engine, upgrade.generic_schema(engine).sorted_tables)
    finally:
        engine.dispose()
