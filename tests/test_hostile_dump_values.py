"""The dump loader takes any JSON value in any column: stored exactly, or refused naming it.

A restore's dump is untrusted text. Whatever a column's value is (nesting
deeper than Python reads, integers beyond the column's range, NUL, lone
surrogates, NaN, date-times out of range or with an offset, unknown block
types, values of the wrong type), on every engine the load either stores it
so that a dump reads it back exactly (a date-time with an offset as the same
instant in UTC), or refuses with the loader's one-line CorruptArchive naming
table, row and column, and changes nothing. No other exception escapes.
"""

import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.backup.errors import CorruptArchive
from app.dumps.codecs import column_codec
from app.dumps.dump import dump_table, load_database
from app.extensions import db
from app.models import BLOCK_TYPES, ROLES
from tests.backupkit import database_state
from tests.hostilekit import (
    BASE_ROWS,
    expected_value,
    hostile_texts,
    in_range_int,
    is_key,
    line,
    parse,
    targeted_texts,
)

pytestmark = pytest.mark.integration

TABLES = db.metadata.sorted_tables
COLUMNS = [(table, column) for table in TABLES for column in table.columns]


def write_dump(folder, table_name, column_name, text):
    """Write one dump file per table, ``text`` as the value of that one column; return entries."""
    entries = []
    for index, table in enumerate(TABLES, 1):
        path = folder / f"{index:03d}-{table.name}.jsonl"
        row = BASE_ROWS[table.name]
        hit = table.name == table_name
        path.write_bytes(line(row, column_name if hit else None, text if hit else None))
        entries.append((table, path))
    return entries


def dumped_rows(conn, folder):
    """Return {table: [row dicts]} as a dump of ``conn``'s tables reads them."""
    rows = {}
    for table in TABLES:
        path = folder / f"again-{table.name}.jsonl"
        dump_table(conn, table, path, lambda c: column_codec(c)[0])
        rows[table.name] = [json.loads(text) for text in path.read_text().splitlines()]
    return rows


def test_the_base_rows_are_every_column_of_every_table():
    assert {t.name: set(t.columns.keys()) for t in TABLES} == {
        name: set(row) for name, row in BASE_ROWS.items()
    }


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(where=st.sampled_from(COLUMNS), data=st.data())
def test_any_value_is_stored_exactly_or_refused_naming_it(any_app, tmp_path_factory, where, data):
    table, column = where
    text = data.draw(hostile_texts | targeted_texts(column), label="value")
    dialect = db.engine.dialect.name
    assume(not (is_key(column) and in_range_int(text, column, dialect)))  # breaks a link
    folder = tmp_path_factory.mktemp("dump")
    entries = write_dump(folder, table.name, column.name, text)
    db.session.remove()
    before = database_state()

    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            load_database(conn, entries)
        except CorruptArchive as exc:
            message = str(exc)
            assert message.startswith(f"table {table.name}, row 1, column {column.name}: ")
            assert "\n" not in message
            refused = True
        else:
            refused = False
            rows = dumped_rows(conn, folder)
        finally:
            trans.rollback()

    assert database_state() == before
    if refused:
        return
    wanted = {name: [dict(row)] for name, row in BASE_ROWS.items()}
    wanted[table.name][0][column.name] = expected_value(column, parse(text))
    if column.nullable and isinstance(column.type, sa.JSON) and parse(text) is None:
        wanted[table.name][0][column.name] = None  # JSON null is SQL NULL in a nullable column
    assert rows == wanted
    json.dumps(rows, ensure_ascii=False, allow_nan=False).encode("utf-8")  # exports can write it
    assert rows["blocks"][0]["type"] in BLOCK_TYPES  # never an unknown type
    assert rows["site_users"][0]["role"] in ROLES
