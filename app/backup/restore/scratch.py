"""The scratch SQLite database a restore migrates a backup in: open it, load a dump, dump it.

The scratch lives in the restore's staging folder and is thrown away with it,
so it skips durability (no fsync per commit). It is loaded by the restore's
own loader (``app.dumps.dump.load_database``) with the checks of the live
engine: a value that a restore at the same revision refuses is refused before
the scratch sees it, and one it accepts is decoded the same way (a date-time
with an offset becomes UTC). The dump of the migrated scratch uses SQLite's
``json_object``; it is read only by the restore's own load, so the escaping
of line separators that a kept dump gets (see dbdump) is not needed here.

One value does not survive exactly: a JSON column whose whole value is a
bare number (not an object or array) that is not a 64-bit integer. SQLite
gives a ``JSON`` column NUMERIC affinity, stores such a number as a REAL and
prints it back with fewer digits, on a live SQLite database as much as here.
Our JSON columns hold objects; numbers inside objects and arrays keep every
digit.
"""

import hashlib
import shutil
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from app.dumps import (
    BATCH,
    DEFAULT_MAX_ROW_BYTES,
    DatabaseDump,
    TableDump,
    dump_database,
    dump_filename,
    load_database,
)


def scratch_engine(path):
    """Return an engine on a scratch SQLite file (foreign keys off, as batch mode wants)."""
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)

    @sa.event.listens_for(engine, "connect")
    def _throwaway(dbapi_connection, _record):
        # A crash loses nothing here (the staging folder is thrown away), so
        # skip the fsync of every commit: each DDL statement of a migration commits.
        dbapi_connection.execute("PRAGMA synchronous=OFF")
        dbapi_connection.execute("PRAGMA journal_mode=MEMORY")

    return engine


def load_scratch(engine, entries, *, dialect="sqlite", max_row=DEFAULT_MAX_ROW_BYTES):
    """Load (Table, dump path) ``entries`` into the empty scratch; return {table: rows}.

    A row (line) over ``max_row`` bytes is refused (``RESTORE_MAX_ROW_BYTES``).
    Every value goes through the checks of a same-revision restore into
    ``dialect`` (the live database's engine), so what the migrations see is
    what that restore would have accepted, decoded the same way.
    """
    with engine.begin() as conn:
        return load_database(conn, entries, dialect=dialect, max_row=max_row)


def _member_sql(column):
    """Return the SQL giving ``column``'s value for ``json_object``, or None (no fast path)."""
    name = '"' + column.name.replace('"', '""') + '"'
    kind = column.type
    if isinstance(kind, sa.JSON):
        return f"json({name})"
    if isinstance(kind, sa.DateTime):
        return f"replace({name}, ' ', 'T')"
    if isinstance(kind, sa.Boolean):
        true_or_false = f"CASE WHEN {name} THEN json('true') ELSE json('false') END"
        return f"CASE WHEN {name} IS NULL THEN NULL ELSE {true_or_false} END"
    if isinstance(kind, (sa.Float, sa.Numeric, sa.Enum, sa.Interval, sa.Time, sa.LargeBinary)):
        return None  # floats: SQLite prints 15 digits, not the shortest exact form
    if isinstance(kind, (sa.Date, sa.Integer, sa.String)):
        return name
    return None


def dump_scratch(engine, dest_dir, tables):
    """Dump the scratch's ``tables`` (FK order) into ``dest_dir``; return a DatabaseDump."""
    dest_dir = Path(dest_dir)
    dumps = []
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        for index, table in enumerate(tables, 1):
            path = dest_dir / dump_filename(index, table.name)
            members = [(c.name, _member_sql(c)) for c in table.columns]
            if all(sql for _name, sql in members) and len(members) <= 60:
                dumps.append(_dump_fast(cursor, table, path, members))
            else:
                dumps.append(_dump_slow(engine, table, path))
    finally:
        raw.close()
    return DatabaseDump(dialect="sqlite", revision=None, tables=dumps)


def _dump_fast(cursor, table, path, members):
    pairs = ", ".join(f"'{name.replace(chr(39), chr(39) * 2)}', {sql}" for name, sql in members)
    order = ", ".join('"' + c.name.replace('"', '""') + '"' for c in table.primary_key.columns)
    cursor.execute(f'SELECT json_object({pairs}) FROM "{table.name}" ORDER BY {order}')
    digest, rows, size = hashlib.sha256(), 0, 0
    with open(path, "xb") as out:
        while chunk := cursor.fetchmany(BATCH):
            data = ("\n".join(line for (line,) in chunk) + "\n").encode("utf-8")
            out.write(data)
            digest.update(data)
            rows += len(chunk)
            size += len(data)
    return TableDump(table.name, path, rows, size, digest.hexdigest())


def _dump_slow(engine, table, path):
    """Dump one table through dbdump (binary, numeric and the like)."""
    work = path.parent / f".{path.name}.d"
    work.mkdir()
    try:
        (dump,) = dump_database(engine, work, [table]).tables
        dump.path.rename(path)
    finally:
        shutil.rmtree(work)
    return TableDump(dump.table, path, dump.rows, dump.size, dump.sha256)
