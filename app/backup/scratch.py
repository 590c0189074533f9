"""The scratch SQLite database a restore migrates a backup in: open it, load a dump fast.

The scratch lives in the restore's staging folder and is thrown away with it,
so it skips durability (no fsync per commit). Its load hands each dump line
to SQLite as text and lets SQLite's JSON functions take it apart into the
very storage form SQLAlchemy's SQLite types use (datetimes as
``YYYY-MM-DD HH:MM:SS.ffffff``, booleans as 0/1, JSON as text): decoding
and re-encoding every value in Python was most of the cost of a restore
through migrations. A table with a column of another type (binary, numeric,
interval, time, enum) loads through ``app.backup.dbdump.load_database``.
The dump of the migrated scratch goes the other way round with
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
import json
import shutil
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from app.backup.dbdump import (
    BATCH,
    DatabaseDump,
    TableDump,
    dump_database,
    dump_filename,
    load_database,
)
from app.backup.dbload import BATCH_BYTES
from app.backup.dumplines import DEFAULT_MAX_ROW_BYTES, read_lines
from app.backup.errors import CorruptArchive


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


def _column_sql(column):
    """Return the SQL reading ``column``'s value from the line ``?1``, or None (no fast path)."""
    path = _json_path(column.name)
    value = f"json_extract(?1, {path})"
    kind = column.type
    if isinstance(kind, sa.JSON):
        # The JSON text of any value (strings quoted). Containers keep every digit of
        # their numbers; a bare number becomes a REAL, as the column's NUMERIC affinity
        # would make it anyway (see tests/test_backup_scratch.py).
        text = f"json_quote({value})"
        if column.nullable:  # JSON null comes back as SQL NULL, as the dump's loader does
            return f"CASE json_type(?1, {path}) WHEN 'null' THEN NULL ELSE {text} END"
        return text
    if isinstance(kind, sa.DateTime):
        return f"replace({value}, 'T', ' ')"  # the storage form of SQLAlchemy's SQLite DATETIME
    if isinstance(kind, (sa.Numeric, sa.Enum, sa.Interval, sa.Time)):
        return None  # floats too: Python, not SQLite, parses them exactly
    if isinstance(kind, (sa.Date, sa.Boolean, sa.Integer, sa.String)):
        return value  # JSON true/false read as 1/0, as SQLAlchemy stores booleans
    return None


def load_scratch(engine, entries, max_row=DEFAULT_MAX_ROW_BYTES):
    """Load (Table, dump path) ``entries`` into the empty scratch; return {table: rows}.

    A row (line) over ``max_row`` bytes is refused (``RESTORE_MAX_ROW_BYTES``).
    """
    fast, slow = [], []
    for table, path in entries:
        exprs = [_column_sql(column) for column in table.columns]
        if all(exprs):
            fast.append((table, Path(path), exprs))
        else:
            slow.append((table, path))
    counts = {}
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        cursor.execute("BEGIN")
        for table, path, exprs in fast:
            counts[table.name] = _load_fast(cursor, table, path, exprs, max_row)
        cursor.execute("COMMIT")
    finally:
        raw.close()
    if slow:
        with engine.begin() as conn:
            counts.update(load_database(conn, slow, max_row=max_row))
    return counts


def _load_fast(cursor, table, path, exprs, max_row):
    """Insert every line of ``path``, letting SQLite's JSON functions take the values apart.

    A line is inserted only if it is a JSON object holding exactly the table's
    columns; any other line makes the whole load fail as a corrupt archive.
    """
    columns = list(table.columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    present = " AND ".join(f"json_type(?1, {_json_path(c.name)}) IS NOT NULL" for c in columns)
    insert = (
        f'INSERT INTO "{table.name}" ({names}) SELECT {", ".join(exprs)} '
        f"WHERE json_type(?1) = 'object' "
        f"AND (SELECT count(*) FROM json_each(?1)) = {len(columns)} AND {present}"
    )
    lines, inserted = 0, 0
    for batch in _batches(path, read_lines(path, table.name, max_row)):
        try:
            cursor.executemany(insert, batch)
        except sqlite3.Error as exc:
            raise CorruptArchive(f"{path.name}: {exc}") from None
        lines += len(batch)
        inserted += cursor.rowcount
    if inserted != lines:
        raise CorruptArchive(
            f"{path.name}: {lines - inserted} of {lines} lines do not hold exactly the columns "
            f"of table {table.name}"
        )
    return lines


def _batches(path, lines):
    """Yield lists of (line text,) of at most BATCH lines and about BATCH_BYTES of text."""
    batch, held = [], 0
    for lineno, line in enumerate(lines, 1):
        try:
            batch.append((line.decode("utf-8"),))
        except UnicodeDecodeError as exc:
            raise CorruptArchive(f"{path.name} line {lineno}: not UTF-8 ({exc.reason})") from None
        held += len(line)
        if len(batch) >= BATCH or held >= BATCH_BYTES:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _json_path(name):
    """Return the SQL string literal of the JSON path of member ``name``."""
    return "'" + ("$." + json.dumps(name)).replace("'", "''") + "'"


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
