"""A PostgreSQL restore never waits without end for a session that holds one of its tables.

The load drops indexes and keys and truncates (``app.dumps.loaders.setaside``),
which needs every table to itself. Another session left idle inside a
transaction that read a table (a ``psql`` open on the side) holds it until
it ends. The load waits ``RESTORE_LOCK_TIMEOUT`` at most, then loads with
indexes and keys in place, which such a reader does not block, and says
who held the table. Without that, these tests would wait on the held lock
until the guard below (a statement timeout of the test's own) fails them.
"""

import logging

import pytest
import sqlalchemy as sa

from app.backup.system import create_backup, restore_backup
from app.dumps.dump import load_database
from app.extensions import db
from tests.backupkit import database_state, seed_everything
from tests.schemakit import object_ids, schema, seeded_dump

pytestmark = pytest.mark.integration
GUARD = "SET LOCAL statement_timeout = '60s'"  # turns a wait without end into a failure


@pytest.fixture
def pg_app(make_app):
    app = make_app("postgresql", RESTORE_LOCK_TIMEOUT=0.2)
    with app.app_context():
        yield app


def _hold(table):
    """Open a session that reads ``table`` and stays inside its transaction; return it.

    PostgreSQL ends it after a minute idle, so that a load that waits for it
    (none should) ends too, and fails the test instead of hanging it.
    """
    conn = db.engine.connect()
    conn.begin()
    conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = '60s'")
    conn.execute(sa.text(f"SELECT count(*) FROM {table}"))
    return conn


def test_a_load_goes_on_with_indexes_in_place_when_a_table_is_held(pg_app, make, tmp_path, caplog):
    entries, rows, before = seeded_dump(make, tmp_path)
    holder = _hold("sites")
    holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    try:
        with caplog.at_level(logging.WARNING), db.engine.begin() as conn:
            conn.exec_driver_sql(GUARD)
            ids_before = dict(object_ids(conn))
            load_database(conn, entries, lock_timeout=0.2)
            ids_after = dict(object_ids(conn))
            # The wait's own lock_timeout is gone with it.
            assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "0"
    finally:
        holder.close()
    db.session.remove()
    assert database_state() == rows
    assert schema(db.engine) == before
    assert ids_after == ids_before  # nothing was dropped and made again
    warning = next(r.getMessage() for r in caplog.records if "RESTORE_LOCK_TIMEOUT" in r.message)
    assert f"sites by pid {holder_pid} (idle in transaction" in warning


def test_with_no_table_held_the_load_sets_indexes_aside(pg_app, make, tmp_path, caplog):
    entries, rows, before = seeded_dump(make, tmp_path)
    with caplog.at_level(logging.WARNING), db.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL lock_timeout = '7s'")
        ids_before = dict(object_ids(conn))
        load_database(conn, entries, lock_timeout=0.2)
        ids_after = dict(object_ids(conn))
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "7s"  # the caller's, back
    db.session.remove()
    assert database_state() == rows
    assert schema(db.engine) == before
    assert ids_after["index ix_blocks_page_id"] != ids_before["index ix_blocks_page_id"]
    assert not [r for r in caplog.records if "RESTORE_LOCK_TIMEOUT" in r.message]


def test_a_system_restore_completes_while_a_session_holds_a_table(pg_app, make, caplog):
    seed_everything(make, media_files=2)
    db.session.remove()
    rows = database_state()
    outcome = create_backup(pg_app.config, db.engine)
    make.site(subdomain="made-after-the-backup")
    db.session.remove()
    holder = _hold("blocks")
    try:
        with caplog.at_level(logging.WARNING):
            restore_backup(pg_app.config, db.engine, outcome.backup_id)
    finally:
        holder.close()
    db.session.remove()
    assert database_state() == rows
    assert any("blocks by pid" in r.getMessage() for r in caplog.records)
