"""A backup of an older schema restores each value exactly as a same-revision restore would.

The dump of a backup made one revision back goes through the scratch
database and a migration that changes nothing; the same dump loaded as a
backup of the live revision goes straight in. For any value in any column,
on every engine, both paths refuse it with the same one-line message, or both
store the same rows, value by value: a boolean written as the string "true"
is refused on both, a date-time with an offset is the same UTC instant on
both.
"""

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from app.backup.errors import CorruptArchive
from app.backup.restore import upgrade
from app.dumps.dump import load_database
from app.extensions import db
from tests.hostilekit import BASE_ROWS, hostile_texts, in_range_int, is_key, line, targeted_texts

pytestmark = pytest.mark.integration

NOTHING_MIGRATION = '''"""change nothing (a later revision, for restores through migrations)

Revision ID: x1_nothing
Revises: {head}
"""

revision = "x1_nothing"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    pass
'''
TABLES = db.metadata.sorted_tables
COLUMNS = [(table, column) for table in TABLES for column in table.columns]


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def later_app(request, make_app, tmp_path):
    """An app on each engine one revision past our head (a migration that changes nothing)."""
    base = upgrade.head_revision({})
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "x1_nothing.py").write_text(NOTHING_MIGRATION.format(head=base))
    app = make_app(request.param, MIGRATION_EXTRA_VERSIONS=[versions])
    with app.app_context():
        upgrade.migrate(app.config, db.engine, "heads")
        app.config["TEST_OLD_REVISION"] = base
        yield app


def write_dump(staging, table_name, column_name, text):
    """Write ``staging/db/NNN-<table>.jsonl``, one value as JSON ``text``; return manifest parts."""
    (staging / "db").mkdir()
    files, tables = [], []
    for index, table in enumerate(TABLES, 1):
        member = f"db/{index:03d}-{table.name}.jsonl"
        hit = table.name == table_name
        data = line(BASE_ROWS[table.name], column_name if hit else None, text if hit else None)
        (staging / member).write_bytes(data)
        files.append({"path": member, "size": len(data)})
        tables.append({"name": table.name, "path": member, "rows": 1})
    return files, tables


def outcome(entries):
    """Load ``entries`` into the live database and roll back; return its rows or its refusal."""
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            load_database(conn, entries)
            return "rows", {
                table.name: [dict(r) for r in conn.execute(sa.select(table)).mappings()]
                for table in TABLES
            }
        except CorruptArchive as exc:
            return "refused", str(exc)
        finally:
            trans.rollback()


@settings(
    max_examples=45,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(where=st.sampled_from(COLUMNS), data=st.data())
def test_both_paths_store_the_same_values_or_refuse_alike(later_app, tmp_path_factory, where, data):
    table, column = where
    text = data.draw(hostile_texts | targeted_texts(column), label="value")
    config = later_app.config
    assume(not (is_key(column) and in_range_int(text, column, db.engine.dialect.name)))
    staging = tmp_path_factory.mktemp("staging")
    files, tables = write_dump(staging, table.name, column.name, text)

    same_revision = outcome([(db.metadata.tables[t["name"]], staging / t["path"]) for t in tables])

    old = config["TEST_OLD_REVISION"]
    manifest = {"files": files, "tables": tables, "database": {"revision": old}}
    steps = upgrade.migration_steps(config, old, upgrade.head_revision(config))
    assert [s.revision for s in steps] == ["x1_nothing"]
    try:
        head = upgrade.load_at_head(
            config, staging, manifest, steps, dialect=db.engine.dialect.name
        )
    except CorruptArchive as exc:
        through_migrations = ("refused", str(exc))
    else:
        entries = [(head.schema.tables[t["name"]], staging / t["path"]) for t in head.tables]
        through_migrations = outcome(entries)

    event(same_revision[0])
    assert through_migrations == same_revision
    if same_revision[0] == "refused":
        message = same_revision[1]
        assert message.startswith(f"table {table.name}, row 1, column {column.name}: ")
        assert "\n" not in message


def test_the_values_that_changed_through_migrations(later_app, tmp_path):
    """The two values of the report: a string boolean is refused, an offset is converted to UTC."""
    config = later_app.config
    old = config["TEST_OLD_REVISION"]
    steps = upgrade.migration_steps(config, old, upgrade.head_revision(config))
    dialect = db.engine.dialect.name
    for table, column, text in [
        ("pages", "published", '"true"'),
        ("users", "is_global_admin", '"yes"'),
    ]:
        staging = tmp_path / f"{table}-{column}"
        staging.mkdir()
        files, tables = write_dump(staging, table, column, text)
        manifest = {"files": files, "tables": tables, "database": {"revision": old}}
        with pytest.raises(CorruptArchive, match=f"column {column}: expected a boolean, found str"):
            upgrade.load_at_head(config, staging, manifest, steps, dialect=dialect)

    staging = tmp_path / "offset"
    staging.mkdir()
    files, tables = write_dump(staging, "pages", "created_at", '"2025-07-01T12:00:00+05:00"')
    manifest = {"files": files, "tables": tables, "database": {"revision": old}}
    head = upgrade.load_at_head(config, staging, manifest, steps, dialect=dialect)
    kind, rows = outcome(
        [(head.schema.tables[t["name"]], staging / t["path"]) for t in head.tables]
    )
    assert kind == "rows"
    assert rows["pages"][0]["created_at"].isoformat() == "2025-07-01T07:00:00"
