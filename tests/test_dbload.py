"""A restore's fast load accepts, refuses and loads exactly what a careful line-by-line read does.

The fast loaders check, decode and bind a block of dump lines column by
column; the careful read (``_records``, then ``bound_rows``) takes one line
and one value at a time and words every refusal. For any dump, good or bad,
both give the same rows or the same CorruptArchive message.
"""

import enum
import json
from unittest import mock

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.models  # noqa: F401 (the models' tables and their JSON shapes)
from app.backup.errors import CorruptArchive
from app.dumps import load as dbload
from app.dumps.bindrows import bound_rows, column_binders
from app.extensions import db


class Colour(enum.Enum):
    red = 1
    green = 2


meta = sa.MetaData()
every_kind = sa.Table(
    "every_kind",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("small", sa.SmallInteger, nullable=True),
    sa.Column("price", sa.Numeric(12, 2), nullable=True),
    sa.Column("ratio", sa.Float, nullable=False),
    sa.Column("flag", sa.Boolean, nullable=True),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("at", sa.Time, nullable=True),
    sa.Column("moment", sa.DateTime, nullable=False),
    sa.Column("name", sa.String(5), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("kind", sa.Enum("a", "b", name="kind"), nullable=True),
    sa.Column("colour", sa.Enum(Colour), nullable=False),
    sa.Column("token", sa.Uuid, nullable=True),
    sa.Column("blob", sa.LargeBinary, nullable=True),
    sa.Column("doc", sa.JSON, nullable=True),
    sa.Column("tree", sa.JSON, nullable=False),
    sa.Column("span", sa.Interval, nullable=True),
)
TABLES = [every_kind, *db.metadata.sorted_tables]
DIALECTS = {
    name: sa.create_engine(url).dialect  # no connection: the bind processors are the dialect's
    for name, url in (
        ("sqlite", "sqlite://"),
        ("mariadb", "mysql+pymysql://u@localhost/x"),
        ("postgresql", "postgresql+psycopg://u@localhost/x"),
    )
}
# A dumped value that fits each kind of column, by the type its values have in Python.
GOOD = {
    int: 7,
    bool: True,
    float: 1.5,
    str: "abc",
    "Decimal": "12.50",
    "datetime": "2025-07-01T12:00:00.000001",
    "date": "2025-07-01",
    "time": "23:59:59.999999",
    "timedelta": 3_000_001,
    "bytes": "AAEC/w==",
    "UUID": "12345678-1234-5678-1234-567812345678",
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)
odd_values = st.sampled_from(
    ["", "x" * 64, "x" * 300, "2025-13-01T00:00:00", "yesterday", "a", "b", "red", "blue",
     "not base64!", "AAEC", "12.5.1", "nan", 2**70, -1, 0, 1.0, True, False, [], {}, None]
)  # fmt: skip
# What may happen to a whole line instead of (or as well as) one of its values.
LINE_EDITS = {
    "none": lambda line: line,
    "garbage": lambda line: b"\xff\xfe not json\n",
    "empty": lambda line: b"\n",
    "crlf": lambda line: line[:-1] + b"\r\n",
    "spaces": lambda line: b"  " + line[:-1] + b"  \n",
    "bom": lambda line: b"\xef\xbb\xbf" + line,
    "list": lambda line: b"[" + line[:-1] + b"]\n",
    "two objects": lambda line: line[:-1] + line,
    "cut": lambda line: line[: len(line) // 2] + b"\n",
    "surrogate": lambda line: line.replace(b'"', b'"\xed\xa0\x80', 1),
    "no newline": lambda line: line[:-1],
}


def _good_value(column):
    if isinstance(column.type, sa.Enum):
        return column.type.enums[0]
    if isinstance(column.type, sa.JSON):
        return [] if column.name == "tree" else {}
    if isinstance(column.type, sa.Interval):
        return GOOD["timedelta"]
    python_type = column.type.python_type
    return GOOD.get(python_type, GOOD.get(python_type.__name__))


def _outcome(run):
    try:
        return "rows", run()
    except Exception as exc:  # CorruptArchive, or whatever else the careful read lets through
        return type(exc).__name__, str(exc)


def _plain(value):
    """Return a bound value in a form that compares (psycopg's Json and Binary wrappers do not)."""
    return type(value).__name__, repr(getattr(value, "obj", value))  # Decimal NaN != itself


def _careful(conn, table, path):
    dialect = conn.dialect.name
    records = (record for record, _size in dbload._records(table, path, dialect=dialect))
    return [list(map(_plain, row)) for row in bound_rows(conn, table, records)]


def _fast(conn, table, path):
    blocks = dbload._blocks(conn, table, path, conn.dialect.name)
    return [list(map(_plain, row)) for block in blocks for row in zip(*block, strict=True)]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    table=st.sampled_from(TABLES),
    dialect=st.sampled_from(sorted(DIALECTS)),
    rows=st.integers(1, 12),
    block=st.sampled_from([16, 100, 1000, dbload.BLOCK_BYTES]),
)
def test_the_fast_load_gives_the_careful_reads_rows_or_message(
    tmp_path, data, table, dialect, rows, block
):
    columns = list(table.columns)
    lines = []
    for n in range(rows):
        row = {c.name: _good_value(c) for c in columns}
        row[columns[0].name] = n + 1
        lines.append(row)
    bad_row = data.draw(st.integers(0, rows - 1), label="row")
    bad_column = data.draw(st.sampled_from(columns), label="column").name
    lines[bad_row][bad_column] = data.draw(json_values | odd_values, label="value")
    dumped = [json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in lines]
    edit = data.draw(st.sampled_from(sorted(LINE_EDITS)), label="line edit")
    edited = data.draw(st.integers(0, rows - 1), label="edited row")
    dumped[edited] = LINE_EDITS[edit](dumped[edited])
    path = tmp_path / f"{table.name}.jsonl"
    path.write_bytes(b"".join(dumped))
    conn = mock.Mock(dialect=DIALECTS[dialect])

    careful = _outcome(lambda: _careful(conn, table, path))
    with mock.patch.object(dbload, "BLOCK_BYTES", block):
        fast = _outcome(lambda: _fast(conn, table, path))
    assert fast == careful


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_clean_dump_loads_without_the_careful_read(tmp_path, dialect):
    path = tmp_path / "every_kind.jsonl"
    rows = [{c.name: _good_value(c) for c in every_kind.columns} for _n in range(3)]
    rows[1].update({c.name: None for c in every_kind.columns if c.nullable})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    conn = mock.Mock(dialect=DIALECTS[dialect])

    careful = _careful(conn, every_kind, path)
    with mock.patch.object(dbload, "_records", side_effect=AssertionError("read line by line")):
        assert _fast(conn, every_kind, path) == careful


def test_a_bad_value_is_named_by_table_row_and_column(tmp_path):
    path = tmp_path / "users.jsonl"
    users = db.metadata.tables["users"]
    rows = [{c.name: _good_value(c) for c in users.columns} for _n in range(3)]
    rows[2]["is_global_admin"] = 1
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    conn = mock.Mock(dialect=DIALECTS["sqlite"])

    with pytest.raises(CorruptArchive) as refused:
        _fast(conn, users, path)
    assert str(refused.value) == (
        "table users, row 3, column is_global_admin: expected a boolean, found int 1"
    )


@given(st.lists(st.datetimes(timezones=st.none() | st.timezones()) | st.none(), min_size=1))
def test_sqlite_date_times_are_bound_as_sqlalchemy_binds_them(moments):
    column = sa.Column("moment", sa.DateTime, nullable=True)
    sa.Table("moments", sa.MetaData(), column)
    dialect = DIALECTS["sqlite"]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    conn = mock.Mock(dialect=dialect)

    [bind] = column_binders(conn, column.table)
    assert bind(moments) == [None if m is None else process(m) for m in moments]
