"""Loading a logical dump (``app.dumps.dump``) back into the database, inside one transaction.

Every value of every line is checked against its column (``dbtypes``),
decoded and sent through its column type's bind processor before it is
written, whatever the engine. The fast loaders (PostgreSQL ``COPY``, MariaDB
multi-row ``INSERT``, SQLite ``executemany``) take a table's lines a block
at a time and do that work column by column over the block: a column whose
values are all of the expected type is checked in one pass. Any block in
which anything is out of the ordinary (a bad value, odd bytes, a line that
does not read as exactly one object) is read again line by line and value by
value by ``_records``, which accepts and refuses exactly what it always did,
with the same message for the first bad line; the fast pass only ever
accepts blocks the careful one accepts too, and gives the same rows.
"""

import io
import json
import json.scanner
import re
from contextlib import nullcontext
from operator import itemgetter
from pathlib import Path

import sqlalchemy as sa

from app.archive import CorruptArchive
from app.dumps.bindrows import bound_rows, column_binders
from app.dumps.codecs import block_decoder, column_decoder
from app.dumps.lines import BLOCK_BYTES, DEFAULT_MAX_ROW_BYTES, read_blocks, read_lines
from app.dumps.loaders.mysql import insert_rows as mysql_rows
from app.dumps.loaders.postgresql import copy_rows
from app.dumps.loaders.setaside import DEFAULT_LOCK_TIMEOUT, set_aside
from app.dumps.loaders.sqlite import insert_rows as sqlite_rows
from app.dumps.valuetypes import column_checks, value_checks
from app.models import read_int

BATCH = 1000
BATCH_BYTES = 4 * 1024 * 1024  # a load holds at most this much dump text (or one row) at once
FAST = {"postgresql": copy_rows, "mysql": mysql_rows, "mariadb": mysql_rows, "sqlite": sqlite_rows}
# What json.loads runs on each object (the stubs type its argument as the scanner itself).
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
# A \u escape of a high surrogate not followed by a low one, or of a low one not after a high one.
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def load_database(
    conn,
    entries,
    *,
    progress=None,
    max_row=DEFAULT_MAX_ROW_BYTES,
    dialect=None,
    lock_timeout=DEFAULT_LOCK_TIMEOUT,
):
    """Replace every row of the given tables with their dumps, inside ``conn``'s transaction.

    ``entries`` is a list of (Table, dump path) in FK order. Deletes the current
    rows in reverse FK order (or truncates the tables, ``set_aside``),
    bulk-inserts in FK order, then moves id counters on where the engine
    needs it. On PostgreSQL the secondary indexes and foreign keys of the
    tables are dropped first and recreated as they were after the rows
    (``app.dumps.loaders.setaside``), all inside a savepoint, unless another
    session holds a table for more than ``lock_timeout`` seconds
    (``RESTORE_LOCK_TIMEOUT``): then they stay. A row (line)
    over ``max_row`` bytes is refused (``RESTORE_MAX_ROW_BYTES``). Returns
    {table name: rows loaded}. Values are checked against what the engine
    ``dialect`` (default: ``conn``'s) stores exactly.
    """
    dialect = dialect or conn.dialect.name
    tables = [table for table, _path in entries]
    with _savepoint(conn):  # on any error, back to here: set aside indexes and keys too
        put_back, emptied = set_aside(conn, tables, lock_timeout)
        if not emptied:
            for table in reversed(tables):
                conn.execute(table.delete())
        counts = {}
        for done, (table, path) in enumerate(entries, 1):
            counts[table.name] = _load_table(conn, table, Path(path), dialect, max_row)
            if progress:
                progress(done, len(entries))
        put_back()
    fix_id_counters(conn, tables)
    return counts


def _savepoint(conn):
    """Return a savepoint where ``set_aside`` drops indexes and keys (PostgreSQL), else nothing.

    A failed load is rolled back to it whatever the caller does next, so no
    commit can ever see the tables without their indexes and keys.
    """
    return conn.begin_nested() if conn.dialect.name == "postgresql" else nullcontext()


def _load_table(conn, table, path, dialect, max_row=DEFAULT_MAX_ROW_BYTES):
    fast = FAST.get(conn.dialect.name)
    if fast is not None:
        return fast(conn, table, _blocks(conn, table, path, dialect, max_row))
    insert = table.insert()
    rows, batch, held = 0, [], 0
    lines = read_lines(path, table.name, max_row)
    for record, size in _records(table, path, lines, dialect=dialect):
        batch.append(record)
        held += size
        if len(batch) >= BATCH or held >= BATCH_BYTES:
            conn.execute(insert, batch)
            rows += len(batch)
            batch, held = [], 0
    if batch:
        conn.execute(insert, batch)
        rows += len(batch)
    return rows


def _records(table, path, lines=None, first=1, *, dialect):
    """Yield (row dict ready to insert, its line's size) for each checked line of ``path``.

    ``lines`` (an iterable of byte lines starting at line ``first``) stands in
    for the file's own lines when given. Values are checked for ``dialect``.
    """
    if lines is None:
        lines = read_lines(path, table.name)
    names = {c.name for c in table.columns}
    decoders = []
    for column in table.columns:
        decode = _decoder(column)
        if isinstance(column.type, sa.JSON) and column.nullable:
            # SQL NULL and JSON null both read as None; a nullable column gets SQL NULL back.
            decoders.append((column.name, None, True))
        elif decode is not None:
            decoders.append((column.name, decode, False))
    check = value_checks(table, dialect)
    for lineno, line in enumerate(lines, first):
        try:
            record = _parse_line(line)
            if not isinstance(record, dict) or record.keys() != names:
                raise ValueError("columns differ from the table's")
            check(record, lineno)
            for name, decode, null_json in decoders:
                value = record[name]
                if value is None:
                    if null_json:
                        record[name] = sa.null()
                elif decode is not None:
                    try:
                        record[name] = decode(value)
                    except (ValueError, TypeError) as exc:
                        raise ValueError(f"column {name}: {exc}") from None
        except (ValueError, TypeError) as exc:
            detail = str(exc)
            where = f"table {table.name}, row {lineno}"
            where += ", " if detail.startswith("column ") else ": "
            raise CorruptArchive(f"{where}{detail} ({path.name} line {lineno})") from None
        yield record, len(line)


def _parse_line(line):
    """Return the JSON value of a dump line; ValueError if it is not JSON or nests too deep."""
    try:
        # NaN, Infinity and integers of too many digits are read as values the checks refuse.
        return json.loads(line, parse_int=read_int)
    except RecursionError:
        name = _deepest_member(line.decode("utf-8", "replace"))
        where = "" if name is None else f"column {name}: "
        raise ValueError(f"{where}its JSON value is nested too deeply to read") from None


def _deepest_member(text):
    """Return the top-level key of JSON ``text`` whose value nests deepest (None if no key).

    Reads the text without recursion (it is too deep for the JSON reader).
    """
    depth, deepest, key, found, pos, size = 0, 0, None, None, 0, len(text)
    while pos < size:
        char = text[pos]
        if char == '"':
            end = pos + 1
            while end < size and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            after = end + 1
            while after < size and text[after] in " \t\r\n":
                after += 1
            if depth == 1 and after < size and text[after] == ":":
                try:
                    key = json.loads(text[pos : end + 1])
                except ValueError:
                    key = None
            pos = end + 1
            continue
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest, found = depth, key
        elif char in "]}":
            depth -= 1
        pos += 1
    return found


def _decoder(column):
    return column_decoder(column)


def _blocks(conn, table, path, dialect, max_row=DEFAULT_MAX_ROW_BYTES):
    """Yield the checked, decoded and bound values of ``path``'s lines, a block at a time.

    Each block is a list of columns (lists of values ready for the driver, None
    for NULL) in the table's column order.
    """
    columns = list(table.columns)
    names = [c.name for c in columns]
    getters = [itemgetter(name) for name in names]
    checks = column_checks(table, dialect)
    decoders = [_decoder(c) for c in columns]
    binders = column_binders(conn, table)
    width = len(columns)

    def fast(text):
        escaped = "\\ud" in text or "\\uD" in text
        if escaped and _LONE_SURROGATE.search(text):  # the column checks leave JSON strings to this
            return None
        text.encode("utf-8")  # raises on a surrogate decoded from the bytes themselves
        records = _objects(text)
        if records is None or set(map(len, records)) != {width}:
            return None
        values = [list(map(get, records)) for get in getters]
        if not all(check(column) for check, column in zip(checks, values, strict=True)):
            return None
        return [
            bind(column if decode is None else _convert(decode, column))
            for bind, decode, column in zip(binders, decoders, values, strict=True)
        ]

    def careful(block, first):
        lines = io.BytesIO(block)
        records = (record for record, _size in _records(table, path, lines, first, dialect=dialect))
        rows = list(bound_rows(conn, table, records))
        return [list(column) for column in zip(*rows, strict=True)] if rows else None

    first = 1
    for block in read_blocks(path, table.name, max_row, BLOCK_BYTES):
        try:
            text = block.decode("utf-8", "surrogatepass")
            values = fast(text)
        except Exception:  # anything unusual is left to the careful reading, which says why
            values = None
        if values is None:
            values = careful(block, first)
        if values:
            yield values
        first += block.count(b"\n")


def _objects(text):
    """Return the JSON objects of ``text``, one a line; None unless every line is just one."""
    records, pos, end = [], 0, len(text)
    while pos < end:
        if text[pos] != "{":
            return None
        record, pos = _scan(text, pos)
        if pos < end and text[pos] != "\n":
            return None
        pos += 1
        records.append(record)
    return records


def _convert(decode, column):
    if None in column:
        return [None if value is None else decode(value) for value in column]
    block = block_decoder(decode)
    return list(map(decode, column)) if block is None else block(column)


def fix_id_counters(conn, tables):
    """Move PostgreSQL sequences past the loaded ids (never backwards).

    ``setval`` is not transactional: if the load is rolled back the sequence
    keeps its new value, which is harmless as long as it only ever moves
    forward. MariaDB and SQLite move their counters on explicit ids by themselves.
    """
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
            {"t": quote.format_table(table), "c": column.name},
        ).scalar()
        if sequence is None:
            continue
        conn.exec_driver_sql(
            f"SELECT setval('{sequence}', GREATEST("
            f"(SELECT COALESCE(MAX({quote.quote(column.name)}), 0) "
            f"FROM {quote.format_table(table)}), "
            f"(SELECT last_value FROM {sequence})))"
        )
