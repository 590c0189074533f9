"""What each database engine stores exactly: the limits a value is checked against before a write.

A restore (``app.dumps.valuetypes``) and the site loader (``app.sitedata.rows``)
check every value against these limits first, so that a value the engine
would refuse, change or choke on is refused with a one-line error naming it,
instead of a driver error, an ``OverflowError`` or a silently different value.
The limits are those of the engine being written to: what the app can store
there restores there.

- integers: the column type's range (16, 32 or 64 bits; every integer column
  holds 64 bits on SQLite);
- text: valid Unicode (no lone surrogate, which UTF-8 cannot encode); no NUL
  character on PostgreSQL; at most 65,535 bytes of UTF-8 in an unsized text
  column on MariaDB (its ``TEXT``);
- JSON: nested at most 31 levels on MariaDB (its own limit, counted as its
  ``JSON_DEPTH`` counts), 100 elsewhere; finite numbers; valid Unicode;
- date-times: an offset is converted to UTC (every time is stored as naive
  UTC); one that leaves the years 1 to 9999 on the way is refused.
"""

import datetime as dt
import math

import sqlalchemy as sa

JSON_DEPTH = {"mysql": 31, "mariadb": 31}
DEFAULT_JSON_DEPTH = 100
MARIADB_TEXT_BYTES = 65535
_BITS = ((sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))
ENGINE_NAMES = {"postgresql": "PostgreSQL", "mysql": "MariaDB", "mariadb": "MariaDB"}


class HugeInteger:
    """A JSON integer with more digits than Python converts (``sys.get_int_max_str_digits``).

    A loader reads one as this, so that the check of its column refuses it by name.
    """

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"{self.text[:20]}... ({len(self.text)} digits)"


def read_int(text):
    """Return JSON integer ``text`` as an int, or a HugeInteger if it has too many digits."""
    try:
        return int(text)
    except ValueError:
        return HugeInteger(text)


def integer_range(kind, dialect):
    """Return (lowest, highest) integer an integer column of type ``kind`` holds on ``dialect``."""
    bits = 64
    if dialect != "sqlite":
        bits = next((n for cls, n in _BITS if isinstance(kind, cls)), 64)
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def json_depth_limit(dialect):
    """Return how deep a JSON value may nest on ``dialect``."""
    return JSON_DEPTH.get(dialect, DEFAULT_JSON_DEPTH)


def text_byte_limit(kind, dialect):
    """Return the most UTF-8 bytes a string column of type ``kind`` holds, or None (no limit)."""
    if dialect in ("mysql", "mariadb") and isinstance(kind, sa.Text) and not kind.length:
        return MARIADB_TEXT_BYTES
    return None


def text_problem(value, dialect, byte_limit=None):
    """Return why string ``value`` cannot be stored exactly on ``dialect``, or None."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "holds a lone surrogate (not valid Unicode)"
    if dialect == "postgresql" and "\x00" in value:
        return "holds a NUL character, which PostgreSQL cannot store"
    if byte_limit is not None and size > byte_limit:
        return f"is longer than the {byte_limit:,} bytes {ENGINE_NAMES[dialect]} stores here"
    return None


def texts_problem(values, dialect, byte_limit=None):
    """Return the problem of the first string of ``values`` that has one, or None (fast)."""
    joined = "".join(values)
    short = byte_limit is None or max(map(len, values), default=0) <= byte_limit
    if short and joined.isascii() and "\x00" not in joined:
        return None
    for value in values:
        problem = text_problem(value, dialect, byte_limit)
        if problem:
            return problem
    return None


def json_problem(value, dialect, *, strings=True):
    """Return why JSON ``value`` cannot be stored exactly on ``dialect``, or None.

    Walks the value a level at a time, without recursion: depth as MariaDB's
    ``JSON_DEPTH`` counts it (a scalar or an empty container is 1 deep),
    finite numbers, and (unless ``strings`` is false: the caller checked the
    text it was read from) valid Unicode in keys and strings.
    """
    limit = json_depth_limit(dialect)
    problem = _scalar_problem(value, strings)
    level, depth = ([value] if type(value) in (dict, list) else []), 1
    while level and problem is None:
        if depth >= limit and any(level):
            return f"is nested more than {limit} levels deep"
        inner = []
        for item in level:
            if type(item) is dict:
                if strings and not all(map(_good_key, item)):
                    return LONE_SURROGATE
                item = item.values()
            for child in item:
                kind = type(child)
                if kind is dict or kind is list:
                    inner.append(child)
                elif kind is not str or strings:
                    problem = problem or _scalar_problem(child, strings)
        level, depth = inner, depth + 1
    return problem


LONE_SURROGATE = "holds a lone surrogate (not valid Unicode)"


def _scalar_problem(value, strings):
    kind = type(value)
    if kind is float and not math.isfinite(value):
        return f"holds the number {value}, which JSON cannot hold"
    if kind is HugeInteger:
        return f"holds the number {value!r}, too long to read"
    if kind is str and strings and _bad_string(value):
        return LONE_SURROGATE
    return None


def _good_key(key):
    return type(key) is not str or not _bad_string(key)


def _bad_string(text):
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def utc_naive(moment):
    """Return date-time ``moment`` as naive UTC, an offset converted (ValueError: out of range)."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is out of range once converted to UTC") from None
