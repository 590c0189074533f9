"""PostgreSQL's COPY text, made a column at a time, stores exactly what an INSERT stores.

``app.dumps.loaders.postgresql`` writes a block of rows as one piece of COPY
text (values dumped by the driver's text dumpers, strings, integers and
date-times directly, escaped as the driver escapes them). For any values of
every kind of column, with NULLs, backslashes, tabs, line breaks and ``\\N``
in strings and JSON, the rows it stores are those an ``INSERT`` stores.
"""

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import Copy
from psycopg.adapt import Transformer
from psycopg.copy import Writer

from app.dumps.bindrows import column_binders
from app.dumps.loaders.postgresql import copy_rows, copy_text
from app.extensions import db

pytestmark = pytest.mark.integration

meta = sa.MetaData()


def _table(name):
    return sa.Table(
        name,
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("name", sa.String(40), nullable=True),
        sa.Column("doc", sa.JSON, nullable=True),
        sa.Column("moment", sa.DateTime, nullable=True),
        sa.Column("stamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flag", sa.Boolean, nullable=True),
        sa.Column("price", sa.Numeric(12, 2), nullable=True),
        sa.Column("ratio", sa.Float, nullable=True),
        sa.Column("day", sa.Date, nullable=True),
        sa.Column("blob", sa.LargeBinary, nullable=True),
        sa.Column("token", sa.Uuid, nullable=True),
        sa.Column("span", sa.Interval, nullable=True),
        sa.Column("big", sa.BigInteger, nullable=True),
    )


copied, inserted = _table("copied_rows"), _table("inserted_rows")

awkward = st.sampled_from(["", "\\", "\\N", "\t", "\n", "\r\n", "\b\v\f", "a\\tb", "é 😀"])
texts = st.lists(
    awkward | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
    max_size=3,
).map("".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
moments = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))
values = {
    "body": texts,
    "name": texts.map(lambda text: text[:40]),
    "doc": json_values,
    "moment": moments,
    "stamp": moments.map(lambda moment: moment.replace(tzinfo=dt.UTC)),
    "flag": st.booleans(),
    "price": st.decimals(min_value=-(10**9), max_value=10**9, places=2),
    "ratio": st.floats(allow_nan=False, allow_infinity=False),
    "day": st.dates(),
    "blob": st.binary(max_size=8),
    "token": st.uuids(),
    "span": st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=9999)),
    "big": st.integers(min_value=-(2**63), max_value=2**63 - 1),
}


@st.composite
def row_blocks(draw):
    """Blocks of rows; a column is now and then NULL everywhere, or of one value throughout."""
    blocks, next_id = [], 1
    for _block in range(draw(st.integers(1, 3))):
        rows = []
        for _row in range(draw(st.integers(1, 6))):
            row = {"id": next_id}
            next_id += 1
            for name, strategy in values.items():
                row[name] = draw(st.none() | strategy)
            rows.append(row)
        blocks.append(rows)
    return blocks


def _all(blocks):
    return [row for rows in blocks for row in rows]


@pytest.fixture
def pg_tables(make_app):
    app = make_app("postgresql")
    with app.app_context():
        meta.create_all(db.engine)
        yield
        meta.drop_all(db.engine)


def _stored(conn, table):
    columns = [sa.cast(column, sa.Text) for column in table.columns]
    return conn.execute(sa.select(*columns).order_by(table.c.id)).all()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blocks=row_blocks())
def test_copy_stores_what_an_insert_stores(pg_tables, blocks):
    names = [column.name for column in copied.columns]
    with db.engine.begin() as conn:
        conn.execute(copied.delete())
        conn.execute(inserted.delete())
        binders = column_binders(conn, copied)
        bound = (
            [bind([row[name] for row in rows]) for bind, name in zip(binders, names, strict=True)]
            for rows in blocks
        )
        assert copy_rows(conn, copied, bound) == sum(map(len, blocks))
        # SQL NULL as the load binds it (the JSON column would take a bare None for JSON null).
        rows = [row | {"doc": sa.null()} if row["doc"] is None else row for row in _all(blocks)]
        conn.execute(inserted.insert(), rows)
        assert _stored(conn, copied) == _stored(conn, inserted)


class _Captured(Writer):
    """Where the driver's own COPY puts its bytes instead of sending them."""

    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data += data

    def finish(self, exc=None):
        pass


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blocks=row_blocks())
def test_the_copy_text_is_what_the_drivers_write_row_writes(pg_tables, blocks):
    names = [column.name for column in copied.columns]
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        binders = column_binders(conn, copied)
        with raw.cursor() as cursor:
            transformer = Transformer.from_context(cursor)
            captured = _Captured()
            ours = ""
            with Copy(cursor, writer=captured) as copy:
                for rows in blocks:
                    bound = [
                        bind([row[name] for row in rows])
                        for bind, name in zip(binders, names, strict=True)
                    ]
                    ours += copy_text(bound, transformer, raw.info.encoding)
                    for values in zip(*bound, strict=True):
                        copy.write_row(values)
    assert ours.encode(raw.info.encoding) == bytes(captured.data)
