"""A load leaves every table's indexes and constraints exactly as it found them, on every engine.

On PostgreSQL the load drops the secondary indexes and foreign keys of the
tables it fills, empties them with one TRUNCATE and recreates what it dropped
after the rows (``app.dumps.loaders.setaside``), all inside a savepoint. After
a load, and after a load that fails anywhere (a corrupt row midway, a
dangling reference found when the keys come back, a duplicate) and is rolled
back, the definitions of every index and constraint of every table are the
same as before, and so are the rows.
"""

import re
import uuid

import pytest

from app.backup.errors import CorruptArchive
from app.dumps.dump import load_database
from app.extensions import db
from tests.backupkit import database_state
from tests.schemakit import object_ids, schema, seeded_dump

pytestmark = pytest.mark.integration


def _path(entries, name):
    return next(path for table, path in entries if table.name == name)


def _edit_lines(path, edit):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(edit(lines)), encoding="utf-8")


def _load_and_roll_back(entries):
    """Load ``entries`` in a transaction rolled back on an error; return the error raised."""
    with pytest.raises(Exception) as caught, db.engine.begin() as conn:  # noqa: PT011 (any engine's)
        load_database(conn, entries)
    db.session.remove()
    return caught.value


def test_a_load_leaves_every_index_and_constraint_as_it_was(any_app, make, tmp_path):
    entries, rows, before = seeded_dump(make, tmp_path)
    with db.engine.begin() as conn:
        load_database(conn, entries)
    db.session.remove()
    assert schema(db.engine) == before
    assert database_state() == rows


def test_postgresql_builds_secondary_indexes_and_keys_after_the_rows(make_app, make, tmp_path):
    app = make_app("postgresql")
    with app.app_context():
        entries, rows, before = seeded_dump(make, tmp_path)
        with db.engine.connect() as conn:
            ids_before = dict(object_ids(conn))
        with db.engine.begin() as conn:
            load_database(conn, entries)
            ids_after = dict(object_ids(conn))
        assert schema(db.engine) == before
        assert database_state() == rows
    # Recreated, not left alone: the page index and the key to pages are new objects
    # (with the same definitions, above); the primary key is the one there was.
    assert ids_after["index ix_blocks_page_id"] != ids_before["index ix_blocks_page_id"]
    key = "constraint fk_blocks_page_id_pages"
    assert ids_after[key] != ids_before[key]
    assert ids_after["index pk_blocks"] == ids_before["index pk_blocks"]


def test_a_load_failing_midway_leaves_schema_and_rows_as_they_were(any_app, make, tmp_path):
    entries, rows, before = seeded_dump(make, tmp_path)
    # The last block's type is not one a block has: refused while loading the blocks,
    # after the tables before them are filled (and on PostgreSQL with indexes and keys gone).
    _edit_lines(
        _path(entries, "blocks"),
        lambda lines: [*lines[:-1], lines[-1].replace('"type":"', '"type":"no-such-', 1)],
    )
    error = _load_and_roll_back(entries)
    assert isinstance(error, CorruptArchive)
    assert "table blocks" in str(error)
    assert schema(db.engine) == before
    assert database_state() == rows


def test_a_dangling_reference_is_refused_and_changes_nothing(any_app, make, tmp_path):
    entries, rows, before = seeded_dump(make, tmp_path)
    # A block of a page that is not in the dump: on PostgreSQL found when the key comes back.
    _edit_lines(
        _path(entries, "blocks"),
        lambda lines: [re.sub(r'"page_id":\d+', '"page_id":999999', lines[0], count=1), *lines[1:]],
    )
    error = _load_and_roll_back(entries)
    assert re.search("foreign key", str(error), re.IGNORECASE)
    assert schema(db.engine) == before
    assert database_state() == rows


def test_a_duplicate_is_refused_and_changes_nothing(any_app, make, tmp_path):
    entries, rows, before = seeded_dump(make, tmp_path)
    # A page twice: its unique (site, slug) and its primary key both stay during a load.
    _edit_lines(_path(entries, "pages"), lambda lines: [*lines, lines[0]])
    error = _load_and_roll_back(entries)
    assert re.search("duplicate|unique", str(error), re.IGNORECASE)
    assert schema(db.engine) == before
    assert database_state() == rows


def test_on_postgresql_a_failed_load_undoes_itself_even_if_the_caller_commits(
    make_app, make, tmp_path
):
    app = make_app("postgresql")

    def fail_after_three_tables(done, _total):
        if done == 3:  # between two COPYs: the transaction itself is not failed
            raise RuntimeError("interrupted")

    with app.app_context():
        entries, rows, before = seeded_dump(make, tmp_path)
        # The transaction commits whatever is left after the error.
        with db.engine.begin() as conn, pytest.raises(RuntimeError, match="interrupted"):
            load_database(conn, entries, progress=fail_after_three_tables)
        db.session.remove()
        assert schema(db.engine) == before
        assert database_state() == rows


def test_on_postgresql_a_role_owning_no_table_loads_with_indexes_and_keys_in_place(
    make_app, make, tmp_path
):
    app = make_app("postgresql")
    role = f"sk_loader_{uuid.uuid4().hex[:8]}"
    with app.app_context():
        entries, rows, before = seeded_dump(make, tmp_path)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role}")
            here = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {here} TO {role}")
            for grant in ("ALL ON ALL TABLES", "ALL ON ALL SEQUENCES"):
                conn.exec_driver_sql(f"GRANT {grant} IN SCHEMA {here} TO {role}")
            ids_before = dict(object_ids(conn))
        try:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL ROLE {role}")  # may write rows, not drop indexes
                load_database(conn, entries)
                conn.exec_driver_sql("RESET ROLE")
                ids_after = dict(object_ids(conn))
            db.session.remove()
            assert schema(db.engine) == before
            assert database_state() == rows
            assert ids_after == ids_before  # nothing was dropped and made again
        finally:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP OWNED BY {role}")
                conn.exec_driver_sql(f"DROP ROLE {role}")
