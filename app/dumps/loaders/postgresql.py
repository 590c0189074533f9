"""Load rows into PostgreSQL with ``COPY ... FROM STDIN``, inside the caller's transaction.

A multi-row ``INSERT`` through the driver costs a round of SQL building and
parameter binding per batch; ``COPY`` streams the rows in PostgreSQL's text
format instead, several times faster on a restore. Each value first goes
through its column type's bind processor, exactly as an ``INSERT`` would send
it (enum names, JSON text, type decorators), so both routes store the same
values.

The text of a block of rows is made here a column at a time, not by the
driver row by row (``write_row`` formats each row in Python code of its own,
which was a third of a load): every value is dumped by the driver's own text
dumper for its type (``Transformer.dump_sequence``, as ``write_row`` does;
strings and integers, whose text is themselves, directly), escaped as the
driver escapes it, and the rows are joined into one piece of text per block.
The bytes sent are those ``write_row`` would send.
"""

import datetime as dt
import json
import re

from psycopg.adapt import PyFormat, Transformer
from psycopg.types.json import Json

from app.dumps.bindrows import json_dumps, table_sql

# What the driver escapes in a value of COPY's text format, and how.
_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\\": "\\\\",
}
_SPECIAL = re.compile("[\b\t\n\v\f\r\\\\]")
_SPECIAL_BUT_NEWLINE = re.compile("[\b\t\v\f\r\\\\]")
_ESCAPES_BUT_NEWLINE = [("\\", "\\\\")] + [
    (char, escape) for char, escape in _ESCAPES.items() if char not in "\n\\"
]  # backslash first
_NULL = "\\N"


def copy_rows(conn, table, blocks):
    """Write ``blocks`` of bound columns into ``table`` with one COPY; return the rows written."""
    name, columns = table_sql(conn, table)
    rows = 0
    with (
        conn.connection.driver_connection.cursor() as cursor,
        cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy,
    ):
        transformer = Transformer.from_context(cursor)
        encoding = conn.connection.driver_connection.info.encoding
        for columns in blocks:
            copy.write(copy_text(columns, transformer, encoding))
            rows += len(columns[0])
    return rows


def copy_text(columns, transformer, encoding):
    """Return the rows of ``columns`` (lists of bound values) in COPY's text format."""
    texts = [_escaped(_texts(column, transformer, encoding)) for column in columns]
    return "\n".join(map("\t".join, zip(*texts, strict=True))) + "\n"


def _texts(column, transformer, encoding):
    """Return each value's text as the driver dumps it (None for NULL)."""
    kinds = set(map(type, column))
    kinds.discard(type(None))
    if kinds == {str} and "\x00" not in "".join(filter(None, column)):
        return column  # the driver refuses a NUL: such a column is left to it
    if kinds == {int} or kinds == {dt.datetime}:  # the driver's text: str(value)
        return _each(str, column)
    if kinds == {Json}:
        dumps = _json_dumps(column, transformer)
        if dumps is not None:
            return _each(lambda wrapped: dumps(wrapped.obj), column)
    dumped = transformer.dump_sequence(column, [PyFormat.TEXT] * len(column))
    return _each(lambda text: str(text, encoding), dumped)


def _each(function, values):
    """Return ``function`` of each value, None kept."""
    if None in values:
        return [None if value is None else function(value) for value in values]
    return list(map(function, values))


def _json_dumps(column, transformer):
    """Return the function the driver's JSON dumper writes these values' text with, or None."""
    if any(value.dumps is not None for value in column if value is not None):
        return None
    first = next(value for value in column if value is not None)
    dumps = getattr(transformer.get_dumper(first, PyFormat.TEXT), "dumps", None)
    if dumps is json.dumps:
        return json_dumps
    if dumps is None or not isinstance(dumps(first.obj), str):
        return None
    return dumps


def _escaped(texts):
    """Return ``texts`` escaped for COPY, NULL as ``\\N``; the work is done on them joined."""
    nulls = None in texts
    values = [value for value in texts if value is not None] if nulls else texts
    joined = "\n".join(values)
    if joined.count("\n") != len(values) - 1:  # a value holds a newline: one at a time
        values = [_SPECIAL.sub(_escape, value) for value in values]
    elif _SPECIAL_BUT_NEWLINE.search(joined):
        for char, escape in _ESCAPES_BUT_NEWLINE:
            joined = joined.replace(char, escape)
        values = joined.split("\n")
    if not nulls:
        return values
    escaped = iter(values)
    return [_NULL if value is None else next(escaped) for value in texts]


def _escape(match):
    return _ESCAPES[match.group()]
