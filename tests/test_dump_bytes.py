"""A dump's bytes are fixed forever: tricky values give exactly these lines, on every engine.

The bytes feed a backup's content fingerprint, so any change to how a value is
written (a date-time's separator, an escape, the order of keys) shows here.
"""

import datetime as dt
import decimal
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from app.dumps.dump import dump_database
from app.extensions import db

pytestmark = pytest.mark.integration

meta = sa.MetaData()
tricky = sa.Table(
    "dump_bytes",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("moment", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")),
    sa.Column("day", sa.Date),
    sa.Column("name", sa.String(100)),
    sa.Column("flag", sa.Boolean),
    sa.Column("price", sa.Numeric(8, 2)),
    sa.Column("doc", sa.JSON, nullable=True),
)
ROWS = [
    {
        "id": 1,
        "moment": dt.datetime(2025, 7, 1, 12, 0, 0, 1),
        "day": dt.date(2024, 2, 29),
        "name": 'é ☃ 🏕 \u2028 \x85 \u2029 "q" \\ a\nb\r\t %s',
        "flag": True,
        "price": decimal.Decimal("12.50"),
        "doc": {"k": ["x\u2028y", 1.5, None, "é"]},
    },
    {"id": 2, "moment": dt.datetime(2025, 1, 31), "day": dt.date(2025, 12, 31), "doc": sa.null()},
    {
        "id": 3,
        "moment": dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
        "name": "",
        "flag": False,
        "doc": [],
    },
]
STORED_DOC = '["\u2028", "\x85 é\u2029"]'  # raw line separators in stored JSON text
# The bytes the row-by-row encoder of the first format versions wrote for these rows
# (PostgreSQL, which keeps stored JSON text as written too, gives MariaDB's).
EXPECTED = {
    "sqlite": (
        b'{"id":1,"moment":"2025-07-01T12:00:00.000001","day":"2024-02-29",'
        b'"name":"\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x8f\x95 '
        b'\\u2028 \\u0085 \\u2029 \\"q\\" \\\\ a\\nb\\r\\t %s",'
        b'"flag":true,"price":"12.50","doc":{"k":["x\\u2028y",1.5,null,"\\u00e9"]}}\n'
        b'{"id":2,"moment":"2025-01-31T00:00:00.000000","day":"2025-12-31","name":null,'
        b'"flag":null,"price":null,"doc":null}\n'
        b'{"id":3,"moment":"2024-02-29T23:59:59.999999","day":null,"name":"","flag":false,'
        b'"price":null,"doc":["\\u2028","\\u0085 \xc3\xa9\\u2029"]}\n'
    ),
    "mysql": (
        b'{"id":1,"moment":"2025-07-01T12:00:00.000001","day":"2024-02-29",'
        b'"name":"\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x8f\x95 '
        b'\\u2028 \\u0085 \\u2029 \\"q\\" \\\\ a\\nb\\r\\t %s",'
        b'"flag":true,"price":"12.50","doc":{"k": ["x\\u2028y", 1.5, null, "\\u00e9"]}}\n'
        b'{"id":2,"moment":"2025-01-31T00:00:00.000000","day":"2025-12-31","name":null,'
        b'"flag":null,"price":null,"doc":null}\n'
        b'{"id":3,"moment":"2024-02-29T23:59:59.999999","day":null,"name":"","flag":false,'
        b'"price":null,"doc":["\\u2028", "\\u0085 \xc3\xa9\\u2029"]}\n'
    ),
}
EXPECTED["postgresql"] = EXPECTED["mysql"]


@pytest.fixture
def tricky_table(any_app):
    meta.create_all(db.engine)
    yield tricky
    meta.drop_all(db.engine)


def test_tricky_values_dump_to_these_bytes(tricky_table, tmp_path):
    with db.engine.begin() as conn:
        for row in ROWS:
            conn.execute(tricky.insert().values(row))
        raw = "CAST(:doc AS json)" if conn.dialect.name == "postgresql" else ":doc"
        conn.execute(
            sa.text(f"UPDATE dump_bytes SET doc = {raw} WHERE id = 3"), {"doc": STORED_DOC}
        )
    dump = dump_database(db.engine, tmp_path, [tricky])
    assert dump.tables[0].path.read_bytes() == EXPECTED[db.engine.dialect.name]


# SQLite keeps date-times as text in whatever form their writer chose; each reads back as before.
STORED = {
    "2025-01-02 03:04:05.000006": "2025-01-02T03:04:05.000006",
    "2025-01-02 03:04:05": "2025-01-02T03:04:05.000000",
    "2025-01-02T03:04:05.5": "2025-01-02T03:04:05.500000",
    "2025-03-01 10:00:00+02:00": "2025-03-01T10:00:00.000000+02:00",
    "2024-02-29 00:00:00.000000": "2024-02-29T00:00:00.000000",
    "2025-04-30 23:59:59.999999": "2025-04-30T23:59:59.999999",
}


def test_sqlite_datetimes_stored_in_any_form_dump_as_before(app, tmp_path):
    meta.create_all(db.engine)
    with db.engine.begin() as conn:
        for n, stored in enumerate(STORED, 1):
            conn.execute(
                sa.text("INSERT INTO dump_bytes (id, moment) VALUES (:n, :s)"),
                {"n": n, "s": stored},
            )
    data = dump_database(db.engine, tmp_path, [tricky]).tables[0].path.read_bytes()
    moments = [line.split(b'"moment":"')[1].split(b'"')[0].decode() for line in data.splitlines()]
    assert moments == list(STORED.values())


def test_sqlite_dates_and_datetimes_in_sqlalchemys_form_dump_as_iso(app, tmp_path):
    """A whole batch of values in the form SQLAlchemy writes, as most are."""
    meta.create_all(db.engine)
    moments = [
        dt.datetime(2025, 1 + n % 12, 1 + n % 31 if n % 12 == 0 else 28, n % 24) for n in range(50)
    ]
    with db.engine.begin() as conn:
        conn.execute(
            tricky.insert(),
            [{"id": n, "moment": m, "day": m.date()} for n, m in enumerate(moments)],
        )
    data = dump_database(db.engine, tmp_path, [tricky]).tables[0].path.read_bytes()
    expected = [
        {"moment": m.isoformat(timespec="microseconds"), "day": m.date().isoformat()}
        for m in moments
    ]
    assert [
        {k: row[k] for k in ("moment", "day")} for row in map(json.loads, data.splitlines())
    ] == expected


@pytest.mark.parametrize(
    "stored",
    [
        "2025-02-29 12:00:00.000000",
        "2025-04-31 00:00:00.000000",
        "0000-01-01 00:00:00.000000",
        "2025-01-01 24:00:00.000000",
    ],
)
def test_an_impossible_sqlite_datetime_fails_the_dump(app, tmp_path, stored):
    meta.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dump_bytes (id, moment) VALUES (1, :s)"), {"s": stored})
    with pytest.raises(ValueError, match=r"out of range|must be in"):
        dump_database(db.engine, tmp_path, [tricky])
