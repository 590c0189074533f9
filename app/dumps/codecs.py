"""How each column type's values are written in a dump and read back (see ``app.dumps.dump``).

One codec per Python type of a column's values: ``encode`` turns a value into
what ``json`` writes, ``decode`` turns the JSON value back; None stands for
"as is". The dump (``dbdump``, ``dumptable``) encodes, the loads (``dbload``,
``sitedump``) decode, and neither imports the other for it.
"""

import base64
import datetime as dt
import decimal
import uuid

import sqlalchemy as sa

from app.dumps.table import datetime_iso
from app.errors import BackupError
from app.models import utc_naive


def _b64(value):
    return base64.b64encode(value).decode("ascii")


def _from_b64(value):
    """Read base64 exactly as a dump writes it, so that a dump of the bytes reads the same.

    The lenient decoder drops characters outside the alphabet ("2025-07-01"
    would load as other bytes), and even the strict one takes spare bits that
    a dump of the bytes does not write ("QR==" reads as what "QQ==" writes).
    """
    raw = base64.b64decode(value, validate=True)
    if _b64(raw) != value:
        raise ValueError(f"not base64 as a dump writes it: {value[:40]!r}")
    return raw


def _decimal(value):
    try:
        return decimal.Decimal(value)
    except decimal.InvalidOperation:  # not a ValueError: a bad dump must read as corrupt
        raise ValueError(f"not a decimal number: {value!r}") from None


def _micros(value):
    return value // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1)


def _from_micros(value):
    # Engines without an interval type store one as a date-time after 1970-01-01.
    try:
        span = dt.timedelta(microseconds=value)
        _EPOCH + span
    except OverflowError:
        raise ValueError(f"{value} microseconds is out of range") from None
    return span


def _datetime(value):
    """Read a dumped date-time; one with an offset becomes naive UTC, as every time is stored."""
    return utc_naive(dt.datetime.fromisoformat(value))


def datetimes(values):
    """Read a list of dumped date-times at once, as ``_datetime`` reads each (ValueError)."""
    moments = list(map(dt.datetime.fromisoformat, values))
    if set(map(_tzinfo, moments)) <= {None}:
        return moments
    return list(map(utc_naive, moments))


def _tzinfo(moment):
    return moment.tzinfo


def _time(value):
    moment = dt.time.fromisoformat(value)
    if moment.tzinfo is not None:
        raise ValueError(f"{value!r} is a time of day with an offset, not stored here")
    return moment


# Python type of a column's values -> (encode, decode); None stands for "as is".
CODECS = {
    bool: (bool, None),
    int: (None, None),
    float: (float, None),
    str: (None, None),
    decimal.Decimal: (str, _decimal),
    dt.datetime: (datetime_iso, _datetime),
    dt.date: (dt.date.isoformat, dt.date.fromisoformat),
    dt.time: (datetime_iso, _time),
    dt.timedelta: (_micros, _from_micros),  # whole microseconds
    bytes: (_b64, _from_b64),
    uuid.UUID: (str, uuid.UUID),
}


def column_codec(column):
    """Return (encode, decode) for ``column``'s values; None stands for "as is"."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        return None, None
    if isinstance(kind, sa.Enum) and kind.enum_class is not None:
        return (lambda v: v.name), (lambda v: kind.enum_class[v])
    try:
        python_type = kind.python_type
    except NotImplementedError:
        python_type = None
    if python_type in CODECS:
        return CODECS[python_type]
    raise BackupError(
        f"cannot dump column {column.table.name}.{column.name}: type {column.type!r} "
        "has no portable encoding yet (add one in app/dumps/codecs.py)"
    )


def block_decoder(decode):
    """Return the function decoding a list of values (no None) as ``decode`` does each, or None."""
    return datetimes if decode is _datetime else None


def column_decoder(column):
    """Return the function turning ``column``'s dumped JSON value back into Python (None: as is)."""
    return column_codec(column)[1]
