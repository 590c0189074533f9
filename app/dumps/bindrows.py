"""A restore's rows as a parameterised ``INSERT`` would send them, for the fast loaders.

``pgcopy``, ``mysqlload`` and ``sqliteload`` bypass SQLAlchemy's executemany;
each value still goes through its column type's bind processor (enum names,
JSON text, type decorators), so every route stores the same values. The
processors run row by row (``bound_rows``) or a column at a time over a block
of rows (``column_binders``), with the same results: where a JSON column's
processor is plain ``json.dumps``, a column's values are encoded by one C
encoder made once (``json_dumps``), the same text.
"""

import datetime as dt
import json
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from operator import attrgetter, methodcaller

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

# SQLite's default text for a date-time, as SQLAlchemy's bind processor writes it.
SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_tzinfo = attrgetter("tzinfo")
_sqlite_text = methodcaller("isoformat", " ", "microseconds")  # the same text, in C


def table_sql(conn, table):
    """Return (the quoted table name, its quoted column names joined by ", ")."""
    quote = conn.dialect.identifier_preparer
    return quote.format_table(table), ", ".join(quote.quote(c.name) for c in table.columns)


def bound_rows(conn, table, records):
    """Yield each dict of ``records`` as its values in column order, bound; NULL as None."""
    dialect = conn.dialect
    work = [(c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in table.columns]
    null = sa.null()
    for record in records:
        values = []
        for name, process in work:
            value = record[name]
            if value is None or value is null:
                values.append(None)
            else:
                values.append(value if process is None else process(value))
        yield values


def column_binders(conn, table):
    """Return a function per column giving a list of its values bound as ``bound_rows`` binds them.

    The values are decoded (NULL as None, never ``sa.null()``).
    """
    dialect = conn.dialect
    binders = []
    for column in table.columns:
        impl = column.type.dialect_impl(dialect)
        process = impl.bind_processor(dialect)
        bind = _binder(json_dumps if _writes_json_dumps(impl, dialect) else process)
        if type(impl) is sqlite.DATETIME and impl._storage_format == SQLITE_DATETIME:
            bind = _sqlite_datetimes(bind)
        binders.append(bind)
    return binders


def _writes_json_dumps(impl, dialect):
    """Tell whether a JSON type's bind processor gives ``json.dumps(value)`` for each value."""
    return (
        isinstance(impl, sa.JSON)
        and type(impl).bind_processor is sa.JSON.bind_processor
        and dialect._json_serializer is None
        and not dialect.supports_native_json_serialization
        and impl._str_impl.bind_processor(dialect) is None
    )


# json.dumps with its default settings, without the set-up it does on every call (a third of
# its time on a restore's values). No check for cycles: the values were read from JSON text.
_encode = c_make_encoder and c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True
)


def json_dumps(value):
    """Return ``json.dumps(value)`` for a value read from JSON (no cycles), a little faster."""
    if _encode is None:
        return json.dumps(value)
    if type(value) is str:
        return encode_basestring_ascii(value)  # what json.dumps does with a string
    return "".join(_encode(value, 0))


def _binder(process):
    def bind(values):
        if process is None:
            return values
        if None in values:
            return [None if value is None else process(value) for value in values]
        return list(map(process, values))

    return bind


def _sqlite_datetimes(bind):
    """Bind naive date-times as SQLite's processor does, a column at a time (others by ``bind``)."""

    def fast(values):
        if set(map(type, values)) == {dt.datetime} and set(map(_tzinfo, values)) == {None}:
            return list(map(_sqlite_text, values))
        return bind(values)

    return fast
