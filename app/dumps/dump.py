"""Logical database dump and load: one JSON-lines file per table, on any engine.

A dump file holds one JSON object per row, ``{"column": value, ...}``, rows in
primary-key order, so the same content always gives the same bytes (the
content fingerprint of a backup relies on that). Values are encoded by column
type so that they load back exactly into SQLite, MariaDB or PostgreSQL:

===================  ==========================================================
column type          encoding
===================  ==========================================================
integer, big integer JSON number (Python's JSON reads any size exactly)
float                JSON number (shortest repr, round-trips exactly)
numeric / decimal    string, e.g. ``"12.50"``
boolean              ``true`` / ``false``
string, text, enum   JSON string (UTF-8)
date, time, datetime ISO 8601 string with microseconds, e.g. ``"2025-07-01T12:00:00.000001"``
                     (naive UTC; a date-time read with an offset is converted to UTC)
interval             whole microseconds (JSON number)
binary               base64 string
JSON                 the JSON value itself, as stored (last in the object)
UUID                 string
NULL                 ``null``
===================  ==========================================================

Dumps are read in one consistent snapshot (see ``_begin_snapshot``) while the
application keeps writing, streamed from the server and written to disk, never
held in memory. Loads run inside the caller's transaction: plain DML on
SQLite and MariaDB (where DDL would commit implicitly); on PostgreSQL, whose
DDL is transactional, the secondary indexes and foreign keys are dropped and
recreated around the rows, inside a savepoint (``loaders.setaside``).
"""

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from app.dumps.codecs import column_codec
from app.dumps.load import fix_id_counters, load_database  # noqa: F401 (the load side)
from app.dumps.table import dump_table

BATCH = 1000


@dataclass(frozen=True)
class TableDump:
    """One table's dump file."""

    table: str
    path: Path
    rows: int
    size: int
    sha256: str


@dataclass(frozen=True)
class DatabaseDump:
    """A whole database dump: where it came from and one file per table, in FK order."""

    dialect: str
    revision: str | None
    tables: list[TableDump]


def dump_filename(index, table_name):
    """Return the file name of a table's dump, e.g. ``003-pages.jsonl``."""
    return f"{index:03d}-{table_name}.jsonl"


# --- dump -------------------------------------------------------------------------------


def _begin_snapshot(conn):
    """Start a read-only transaction that sees one consistent state of every table."""
    name = conn.dialect.name
    if name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        conn.exec_driver_sql("SELECT 1")
    elif name in ("mysql", "mariadb"):
        conn.execution_options(isolation_level="REPEATABLE READ")
        conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    else:
        # SQLite: app.database makes every transaction a real BEGIN; in WAL mode
        # one read transaction sees one snapshot while writers carry on.
        conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1")


def database_revision(conn):
    """Return the Alembic revision of the database on ``conn`` (None if unversioned)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return ",".join(sorted(versions)) or None


def dump_database(
    engine,
    dest_dir,
    tables,
    *,
    on_snapshot=None,
    on_table=None,
    sink=None,
    progress=None,
    where=None,
):
    """Dump ``tables`` (in FK order) from ``engine`` into ``dest_dir`` in one snapshot.

    ``on_snapshot()`` is called once the snapshot is taken, before the tables
    are read (the caller snapshots the media files then, to keep the window
    between the two short). ``sink(path)``, if given, is called as each
    table's file is started and returns a function that is given every piece
    of bytes written to it; ``on_table(TableDump)`` is called as each table's
    file is complete, and ``progress(done, total)`` per table. ``where(table)``,
    if given, returns a clause keeping only some of the table's rows (or None: all).
    """
    dest_dir = Path(dest_dir)
    dumps = []
    with engine.connect() as conn:
        _begin_snapshot(conn)
        revision = database_revision(conn)
        if on_snapshot:
            on_snapshot()
        for index, table in enumerate(tables, 1):
            path = dest_dir / dump_filename(index, table.name)
            tee = sink(path) if sink else None
            clause = where(table) if where else None
            rows, size, sha256 = dump_table(
                conn, table, path, lambda c: column_codec(c)[0], tee, clause
            )
            dumps.append(TableDump(table.name, path, rows, size, sha256))
            if on_table:
                on_table(dumps[-1])
            if progress:
                progress(index, len(tables))
        conn.rollback()
    return DatabaseDump(dialect=engine.dialect.name, revision=revision, tables=dumps)


def estimate_database_size(engine):
    """Return roughly how many bytes the database takes on its server (or file)."""
    name = engine.dialect.name
    with engine.connect() as conn:
        if name == "postgresql":
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())
        if name in ("mysql", "mariadb"):
            size = conn.exec_driver_sql(
                "SELECT SUM(data_length + index_length) FROM information_schema.tables "
                "WHERE table_schema = DATABASE()"
            ).scalar()
            return int(size or 0)
    database = engine.url.database
    if not database or database == ":memory:":
        return 0
    return sum(
        Path(database + suffix).stat().st_size
        for suffix in ("", "-wal")
        if Path(database + suffix).exists()
    )
