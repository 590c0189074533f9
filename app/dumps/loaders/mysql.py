"""Load rows into MariaDB/MySQL as multi-row ``INSERT`` statements, in the caller's transaction.

The driver (PyMySQL) turns each batch into one multi-row statement too, but
escapes every string with a per-character ``str.translate``, which was most of
a restore's time on text-heavy tables. Here strings are escaped with a few
``str.replace`` calls giving the same literal, every other value through the
driver's own ``escape``, after its column type's bind processor, exactly as a
parameterised ``INSERT`` would send it.
"""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from pymysql.constants import SERVER_STATUS

from app.dumps.bindrows import table_sql

STATEMENT_BYTES = 4 * 1024 * 1024  # one statement stays far below max_allowed_packet (16 MiB)
# What the driver's escape_string does, backslash first (the server's default sql_mode).
_ESCAPES = (
    ("\\", "\\\\"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("\032", "\\Z"),
    ("'", "\\'"), ('"', '\\"'),
)  # fmt: skip


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
    batch, held = [], 0
    with conn.connection.driver_connection.cursor() as cursor, _Sender(cursor) as send:
        for block in blocks:
            for values in map(",".join, zip(*map(literals, block), strict=True)):
                line = f"({values})"
                batch.append(line)
                held += len(line)
                if held >= STATEMENT_BYTES:
                    send(head + ",".join(batch))
                    batch, held = [], 0
        if batch:
            send(head + ",".join(batch))
    return send.rows


class _Sender:
    """Execute statements one at a time in a second thread, while the caller makes the next.

    The server works on one statement while this thread reads and converts
    the rows of the next. A statement's failure is raised by the next send or
    on leaving, ahead of any error the caller met after sending it (the order
    in which executing them one by one would have met the two).
    """

    def __init__(self, cursor):
        self.cursor, self.rows, self.pending = cursor, 0, None

    def __enter__(self):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mysqlload")
        return self

    def __call__(self, statement):
        self.wait()
        self.pending = self.pool.submit(self.cursor.execute, statement)

    def wait(self):
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.rows += pending.result()

    def __exit__(self, *exc):
        try:
            self.wait()
        finally:
            self.pool.shutdown()
