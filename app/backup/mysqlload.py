"""Load rows into MariaDB/MySQL as multi-row ``INSERT`` statements, in the caller's transaction.

The driver (PyMySQL) turns each batch into one multi-row statement too, but
escapes every string with a per-character ``str.translate``, which was most of
a restore's time on text-heavy tables. Here strings are escaped with a few
``str.replace`` calls giving the same literal, every other value through the
driver's own ``escape``, after its column type's bind processor, exactly as a
parameterised ``INSERT`` would send it.
"""

import datetime as dt

import sqlalchemy as sa
from pymysql.constants import SERVER_STATUS

STATEMENT_BYTES = 4 * 1024 * 1024  # one statement stays far below max_allowed_packet (16 MiB)
# What the driver's escape_string does, backslash first (the server's default sql_mode).
_ESCAPES = (("\\", "\\\\"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("\032", "\\Z"),
            ("'", "\\'"), ('"', '\\"'))  # fmt: skip


def _quote(text):
    for char, escape in _ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    return f"'{text}'"


def _literal(raw):
    """Return literal(value) giving the SQL text the driver would send for a value."""
    if raw.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        return raw.escape
    escape = raw.escape

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


def insert_rows(conn, table, records):
    """Insert every dict of ``records`` into ``table``; return the rows inserted."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer
    columns = list(table.columns)
    work = [(c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in columns]
    head = (
        f"INSERT INTO {quote.format_table(table)} "
        f"({', '.join(quote.quote(c.name) for c in columns)}) VALUES "
    )
    raw = conn.connection.driver_connection
    literal = _literal(raw)
    null = sa.null()
    rows, batch, held = 0, [], 0
    with raw.cursor() as cursor:
        for record in records:
            values = []
            for name, process in work:
                value = record[name]
                if value is None or value is null:
                    values.append("NULL")
                    continue
                if process is not None:
                    value = process(value)
                values.append("NULL" if value is None else literal(value))
            line = "(" + ",".join(values) + ")"
            batch.append(line)
            held += len(line)
            if held >= STATEMENT_BYTES:
                rows += cursor.execute(head + ",".join(batch))
                batch, held = [], 0
        if batch:
            rows += cursor.execute(head + ",".join(batch))
    return rows
