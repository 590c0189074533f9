"""Load rows into MariaDB/MySQL as multi-row ``INSERT`` statements, in the caller's transaction.

The driver (PyMySQL) turns each batch into one multi-row statement too, but
escapes every string with a per-character ``str.translate``, which was most of
a restore's time on text-heavy tables. Here strings are escaped with a few
``str.replace`` calls giving the same literal, every other value through the
driver's own ``escape``, after its column type's bind processor, exactly as a
parameterised ``INSERT`` would send it.
"""

import datetime as dt

from pymysql.constants import SERVER_STATUS

from app.backup.bindrows import table_sql

STATEMENT_BYTES = 4 * 1024 * 1024  # one statement stays far below max_allowed_packet (16 MiB)
# What the driver's escape_string does, backslash first (the server's default sql_mode).
_ESCAPES = (("\\", "\\\\"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("\032", "\\Z"),
            ("'", "\\'"), ('"', '\\"'))  # fmt: skip


def _quote(text):
    for char, escape in _ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    return f"'{text}'"


def _literals(raw):
    """Return literals(values): the SQL text the driver would send for each value (or NULL)."""
    if raw.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        escape = raw.escape
        return lambda values: ["NULL" if v is None else escape(v) for v in values]
    literal = _literal(raw.escape)

    def literals(values):
        kinds = set(map(type, values))
        if kinds == {str}:
            return list(map(_quote, values))
        if kinds == {int}:
            return list(map(str, values))
        return ["NULL" if v is None else literal(v) for v in values]

    return literals


def _literal(escape):
    """Return literal(value) giving the SQL text the driver would send for a value."""

    def literal(value):
        kind = type(value)
        if kind is str:
            return _quote(value)
        if kind is int:
            return str(value)
        if kind is dt.datetime and value.tzinfo is None:
            return f"'{value.isoformat(' ')}'"
        return escape(value)

    return literal


def insert_rows(conn, table, blocks):
    """Insert ``blocks`` of bound columns into ``table``; return the rows inserted."""
    name, columns = table_sql(conn, table)
    head = f"INSERT INTO {name} ({columns}) VALUES "
    literals = _literals(conn.connection.driver_connection)
    rows, batch, held = 0, [], 0
    with conn.connection.driver_connection.cursor() as cursor:
        for block in blocks:
            for values in map(",".join, zip(*map(literals, block), strict=True)):
                line = f"({values})"
                batch.append(line)
                held += len(line)
                if held >= STATEMENT_BYTES:
                    rows += cursor.execute(head + ",".join(batch))
                    batch, held = [], 0
        if batch:
            rows += cursor.execute(head + ",".join(batch))
    return rows
