"""The logical dump encodes every column type so it loads back exactly, on every engine."""

import datetime as dt
import decimal
import json
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from app.dumps.dump import dump_database, load_database
from app.extensions import db

pytestmark = pytest.mark.integration

meta = sa.MetaData()
MICRO_TIME = sa.Time().with_variant(mysql.TIME(fsp=6), "mysql", "mariadb")
MICRO_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
kinds = sa.Table(
    "dump_kinds",
    meta,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("small", sa.SmallInteger),
    sa.Column("big", sa.BigInteger),
    sa.Column("price", sa.Numeric(12, 2)),
    sa.Column("ratio", sa.Double),
    sa.Column("flag", sa.Boolean),
    sa.Column("day", sa.Date),
    sa.Column("at", MICRO_TIME),
    sa.Column("moment", MICRO_DATETIME),
    sa.Column("name", sa.String(100)),
    sa.Column("body", sa.Text),
    sa.Column("kind", sa.Enum("a", "b", name="dump_kind")),
    sa.Column("token", sa.Uuid),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("doc", sa.JSON, nullable=True),
    sa.Column("span", sa.Interval),
)

ROWS = [
    {
        "id": 1,
        "small": -32768,
        "big": 9_223_372_036_854_775_807,
        "price": decimal.Decimal("12345678.90"),
        "ratio": 0.1 + 0.2,
        "flag": True,
        "day": dt.date(1999, 12, 31),
        "at": dt.time(23, 59, 59, 999999),
        "moment": dt.datetime(2025, 7, 1, 12, 0, 0, 1),
        "name": "Ünïcödé ☃ 🏕️ '\"\\",
        "body": "line one\nline two\t\u2028" + "x" * 10_000,
        "kind": "b",
        "token": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "blob": bytes(range(256)) * 4,
        "doc": {"nested": {"list": [1, 2.5, None, True, "é"]}, "empty": {}},
        "span": dt.timedelta(days=3, seconds=7, microseconds=11),
    },
    {"id": 2, **{c.name: None for c in kinds.columns if c.name != "id"}},
    {
        "id": 3,
        "small": 0,
        "big": -1,
        "price": decimal.Decimal("0.00"),
        "ratio": -1e-300,
        "flag": False,
        "day": dt.date(2025, 1, 1),
        "at": dt.time(0, 0),
        "moment": dt.datetime(2025, 1, 1),
        "name": "",
        "body": "",
        "kind": "a",
        "token": uuid.UUID(int=0),
        "blob": b"",
        "doc": [],
        "span": dt.timedelta(0),
    },
]


@pytest.fixture
def kinds_table(any_app):
    meta.create_all(db.engine)
    yield kinds
    meta.drop_all(db.engine)


def _rows(conn):
    return [dict(r) for r in conn.execute(sa.select(kinds).order_by(kinds.c.id)).mappings()]


def test_every_column_type_round_trips(kinds_table, tmp_path):
    with db.engine.begin() as conn:
        conn.execute(kinds.insert(), ROWS)
        before = _rows(conn)
    dump = dump_database(db.engine, tmp_path, [kinds])
    assert dump.tables[0].rows == 3
    with db.engine.begin() as conn:
        conn.execute(kinds.delete())
        conn.execute(kinds.insert(), [{"id": 99, "name": "in the way"}])
    with db.engine.begin() as conn:
        counts = load_database(conn, [(kinds, dump.tables[0].path)])
    assert counts == {"dump_kinds": 3}
    with db.engine.connect() as conn:
        after = _rows(conn)
    assert after == before
    assert after[0]["big"] == ROWS[0]["big"]
    assert after[0]["at"].microsecond == 999999
    assert after[1]["doc"] is None


def test_dump_is_plain_json_lines_in_key_order(kinds_table, tmp_path):
    with db.engine.begin() as conn:
        conn.execute(kinds.insert(), list(reversed(ROWS)))
    path = dump_database(db.engine, tmp_path, [kinds]).tables[0].path
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [row["id"] for row in lines] == [1, 2, 3]
    first = lines[0]
    assert first["moment"] == "2025-07-01T12:00:00.000001"
    assert first["price"] == "12345678.90"
    assert first["token"] == "12345678-1234-5678-1234-567812345678"
    assert first["doc"]["nested"]["list"] == [1, 2.5, None, True, "é"]
    assert "☃" in path.read_text("utf-8")  # readable, not \\u-escaped


def test_same_content_gives_the_same_bytes(kinds_table, tmp_path):
    with db.engine.begin() as conn:
        conn.execute(kinds.insert(), ROWS)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = dump_database(db.engine, tmp_path / "a", [kinds])
    second = dump_database(db.engine, tmp_path / "b", [kinds])
    assert first.tables[0].sha256 == second.tables[0].sha256


def test_dump_reads_one_snapshot_while_others_write(any_app, make, tmp_path):
    """Rows committed by another connection during the dump are not in it."""
    from app.models import Block, Page, User

    user = make.user()
    site = make.site(owner=user)
    page = make.page(site, blocks=[("text", {"n": i}) for i in range(5)])
    page_id = page.id
    db.session.remove()
    written = []

    def write_meanwhile():
        with db.engine.begin() as conn:
            conn.execute(sa.insert(User.__table__), [{"email": "late@x.org", "password_hash": "x",
                "is_global_admin": False, "created_at": dt.datetime(2025, 1, 1),
                "updated_at": dt.datetime(2025, 1, 1)}])  # fmt: skip
            conn.execute(sa.delete(Block.__table__).where(Block.page_id == page_id))
        written.append(True)

    tables = [User.__table__, Page.__table__, Block.__table__]
    dump = dump_database(db.engine, tmp_path, tables, on_snapshot=write_meanwhile)
    assert written
    counts = {t.table: t.rows for t in dump.tables}
    assert counts == {"users": 1, "pages": 1, "blocks": 5}


def test_json_stored_across_lines_is_dumped_on_one_line(kinds_table, tmp_path):
    """JSON columns are dumped as stored; stored text with line breaks still gives one line."""
    stored = '{\n  "a": [1,\r\n 2],\n  "b": "x\\ny \u2028"\n}'
    with db.engine.begin() as conn:
        conn.execute(kinds.insert(), [{"id": 1}, {"id": 2}])
        value = "CAST(:doc AS json)" if conn.dialect.name == "postgresql" else ":doc"
        conn.execute(sa.text(f"UPDATE dump_kinds SET doc = {value} WHERE id = 1"), {"doc": stored})
        before = _rows(conn)
    assert before[0]["doc"] == {"a": [1, 2], "b": "x\ny \u2028"}
    dump = dump_database(db.engine, tmp_path, [kinds])
    data = dump.tables[0].path.read_bytes()
    assert data.count(b"\n") == 2
    assert "\u2028".encode() not in data
    assert json.loads(data.splitlines()[0])["doc"] == before[0]["doc"]
    with db.engine.begin() as conn:
        load_database(conn, [(kinds, dump.tables[0].path)])
    with db.engine.connect() as conn:
        assert _rows(conn) == before


@pytest.mark.parametrize("bad", ["", "twelve", "1.2.3"])
def test_a_malformed_decimal_reads_as_a_corrupt_row_and_loads_nothing(kinds_table, tmp_path, bad):
    from app.backup.errors import CorruptArchive

    with db.engine.begin() as conn:
        conn.execute(kinds.insert(), ROWS)
    path = dump_database(db.engine, tmp_path, [kinds]).tables[0].path
    lines = path.read_text("utf-8").splitlines()
    row = json.loads(lines[2])
    row["price"] = bad
    lines[2] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    with (
        pytest.raises(CorruptArchive, match=r"table dump_kinds, row 3, column price"),
        db.engine.begin() as conn,
    ):
        load_database(conn, [(kinds, path)])
    with db.engine.connect() as conn:
        assert [r["id"] for r in _rows(conn)] == [1, 2, 3]
