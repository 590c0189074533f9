"""Hostile values as JSON text, and a small valid dump of every table to put them into.

The values are JSON *text*, so that nesting deeper than Python itself can read,
NaN, numbers beyond every range and escaped lone surrogates reach the loaders
exactly as an attacker or a damaged file would write them.
"""

import base64
import datetime as dt
import json

import sqlalchemy as sa
from hypothesis import strategies as st

from app.models.storable import integer_range, utc_naive

MOMENT = "2025-07-01T12:00:00.000001"

# One valid row per table, all related to each other (ids 1).
BASE_ROWS = {
    "users": {
        "id": 1, "email": "owner@example.org", "password_hash": "x", "is_global_admin": False,
        "created_at": MOMENT, "updated_at": MOMENT,
    },
    "sites": {
        "id": 1, "subdomain": "camp", "custom_domain": None, "owner_id": 1, "title": "Camp",
        "tagline": None, "theme": {"color": "teal"}, "created_at": MOMENT, "updated_at": MOMENT,
    },
    "site_users": {"id": 1, "user_id": 1, "site_id": 1, "role": "owner", "created_at": MOMENT},
    "pages": {
        "id": 1, "site_id": 1, "slug": "home", "title": "Home", "published": True,
        "created_at": MOMENT, "updated_at": MOMENT,
    },
    "blocks": {
        "id": 1, "page_id": 1, "type": "text", "position": 0, "data": {"html": "<p>hi</p>"},
        "created_at": MOMENT, "updated_at": MOMENT,
    },
    "menu_items": {"id": 1, "site_id": 1, "label": "Home", "url": "/", "position": 0},
    "media_items": {
        "id": 1, "site_id": 1, "stored_name": "ab12.png", "original_name": "a.png", "size": 3,
        "mime_type": "image/png", "preview": None, "uploaded_by_id": 1, "created_at": MOMENT,
        "updated_at": MOMENT,
    },
    "media_tags": {"id": 1, "media_id": 1, "tag": "lake"},
    "export_jobs": {
        "id": 1, "site_id": 1, "user_id": 1, "state": "ready", "progress_done": 0,
        "progress_total": 0, "filename": None, "size": None, "sha256": None, "error": None,
        "created_at": MOMENT, "started_at": None, "finished_at": None,
    },
}  # fmt: skip


def offsets():
    """Return fixed UTC offsets from -23:59 to +23:59, by the minute."""
    return st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
        lambda m: dt.timezone(dt.timedelta(minutes=m))
    )


SPECIAL = [
    "[" * 30 + "]" * 30, "[" * 31 + "]" * 31, "[" * 32 + "]" * 32, "[" * 200 + "]" * 200,
    '{"a":' * 30 + "1" + "}" * 30, '{"a":' * 31 + "1" + "}" * 31, "[" * 5000 + "]" * 5000,
    '{"a":' + "[" * 5000 + "]" * 5000 + "}", "NaN", "Infinity", "-Infinity", "1e400",
    '{"x":[1e400]}', '{"x":NaN}', str(2**15), str(2**31 - 1), str(2**31), str(-(2**31) - 1),
    str(2**63 - 1), str(2**63), str(10**30), "1" * 5000, '{"n":' + str(10**30) + "}",
    '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"x\\udfffy"', '{"k":"\\udfff"}', '{"\\ud800":1}',
    '{"k":"\\u0000"}', '"\\ud83d\\ude00"', '"true"', '"yes"', '"false"', "1", "0", "true",
    "false", "null", '""', "[]", "{}", '"2025-07-01T12:00:00+05:00"',
    '"2025-07-01T12:00:00.123456-03:30"', '"0001-01-01T00:00:00+05:00"',
    '"9999-12-31T23:59:59.999999-05:00"', '"0001-01-01T00:00:00"', '"9999-12-31T23:59:59.999999"',
    '"0000-01-01T00:00:00"', '"2025-02-30T00:00:00"', '"2025-07-01"', '"2025-07-01 12:00"',
    '"12:00:00+01:00"', '"gallery"', '"buttons"', '"carousel"', '"owner"', '"superuser"',
    json.dumps("é" * 40000), json.dumps("x" * 300),
]  # fmt: skip

_text = st.text(max_size=20)
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _text
json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3)
)
moments = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
hostile_texts = st.one_of(
    st.sampled_from(SPECIAL),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    moments.map(lambda m: json.dumps(m.isoformat())),
    st.builds(lambda m, tz: json.dumps(m.replace(tzinfo=tz).isoformat()), moments, offsets()),
)


def parse(text):
    """Return the value of JSON ``text`` as the loaders read it, or raise ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("too deep") from None


def is_key(column):
    """Return True for a primary or foreign key column (an in-range id there breaks a link)."""
    return column.primary_key or bool(column.foreign_keys)


def in_range_int(text, column, dialect):
    """Return True if ``text`` is an integer (not a boolean) ``column`` holds on ``dialect``."""
    try:
        value = parse(text)
    except ValueError:
        return False
    lowest, highest = integer_range(column.type, dialect)
    return isinstance(value, int) and not isinstance(value, bool) and lowest <= value <= highest


def expected_value(column, value):
    """Return how a dump of ``column`` holding the accepted ``value`` reads back."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sa.DateTime):
        moment = utc_naive(dt.datetime.fromisoformat(value))
        return moment.isoformat(timespec="microseconds")
    if isinstance(kind, sa.Date):
        return dt.date.fromisoformat(value).isoformat()
    return value


def line(row, column=None, text=None):
    """Return the dump line of ``row`` (a dict), ``column``'s value replaced by JSON ``text``."""
    parts = [
        json.dumps(name) + ":" + (text if name == column else json.dumps(value))
        for name, value in row.items()
    ]
    return ("{" + ",".join(parts) + "}\n").encode("utf-8", "surrogatepass")


_odd_chars = st.sampled_from(["\x00", "\ud800", "\udfff", "é", "\u2028", "😀", "a"])
odd_strings = st.lists(_odd_chars | st.characters(), max_size=8).map("".join)


def _nested(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


def targeted_texts(column):
    """Return JSON texts aimed at ``column``'s type: its edges and what its engine may not store."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        return st.one_of(
            st.integers(25, 40).map(lambda d: '{"a":' + _nested(d) + "}"),
            st.integers(25, 40).map(lambda d: '{"a":' + _nested(d, "[]") + "}"),
            odd_strings.map(lambda s: json.dumps({"k": s, s: 1})),
            st.sampled_from(['{"x":NaN}', '{"x":1e400}', '{"x":' + "9" * 5000 + "}"]),
        )
    if isinstance(kind, sa.Boolean):
        return st.sampled_from(['"true"', '"yes"', '"false"', "1", "0", "true", "false"])
    if isinstance(kind, sa.Integer):
        edges = [2**15, 2**31, 2**63]
        near = st.sampled_from(edges).flatmap(
            lambda e: st.integers(-e - 2, -e + 1) | st.integers(e - 2, e + 1)
        )
        return (near | st.integers()).map(str)
    if isinstance(kind, sa.DateTime):
        return st.one_of(
            st.builds(
                lambda m, tz: json.dumps(m.replace(tzinfo=tz).isoformat()), moments, offsets()
            ),
            moments.map(lambda m: json.dumps(m.isoformat())),
            odd_strings.map(json.dumps),
        )
    if isinstance(kind, sa.LargeBinary):  # base64: valid, with characters off the alphabet,
        # with spare bits set, or without its padding
        encoded = st.binary(max_size=12).map(lambda raw: base64.b64encode(raw).decode())
        return st.one_of(
            encoded.map(json.dumps),
            st.builds(
                lambda e, c: json.dumps(e[:1] + c + e[1:]), encoded, st.sampled_from("-\n !")
            ),
            st.sampled_from(['"QR=="', '"QUJ="', '"QQ"', '"2025-07-01"', '"===="']),
        )
    length = getattr(kind, "length", None) or 70000
    return st.one_of(
        odd_strings.map(json.dumps),
        st.integers(max(length - 2, 0), length + 2).map(lambda n: json.dumps("é" * n)),
    )
