"""PostgreSQL's secondary indexes and foreign keys set aside while a load fills their tables.

``pg_restore`` builds indexes and checks foreign keys after the data: one
sort per index and one query per key over the whole table, instead of an
index insertion and a key lookup (a trigger) per row. A load does the same
inside its own transaction, where PostgreSQL's DDL is transactional:
``set_aside`` reads the definition of each secondary index
(``pg_get_indexdef``) and foreign key (``pg_get_constraintdef``) of the
tables first, drops them, and returns a function that recreates each one
from its definition, under its own name. Primary keys, unique constraints
and unique indexes stay (a duplicate row fails as it always did, and keys
reference them), and so does anything the definition would not bring back
(a comment, a tablespace, a table clustered on the index). The tables are
emptied by one ``TRUNCATE`` of them all (transactional too) rather than a
``DELETE`` per table, unless a table outside the load references one of them.

The caller recreates before it commits and rolls back on any error (the load
runs in a savepoint, ``app.dumps.load``), so a commit never sees the schema
without them: a load ends with every index and key as it was, or changes
nothing. Only a role that owns every table may drop its indexes; for any
other, nothing is set aside and the load goes on as before.

``DROP INDEX`` and ``TRUNCATE`` lock the tables against readers too (a
``DELETE`` did not): until the commit, another session reading them waits
rather than seeing the old rows. A system restore runs with the whole app in
maintenance (every request answered 503 before it reads anything) and the
workers paused, but a session outside the app (a ``psql`` left open inside a
transaction, a report) may still hold one of the tables, and would make the
load wait for it without end. So every table is locked first, in one
statement, waiting at most ``lock_timeout`` seconds (``RESTORE_LOCK_TIMEOUT``);
when a table cannot be had in that time, nothing is set aside, a warning names
the table and the sessions holding it, and the load goes on as before (rows
deleted, indexes kept), which such readers do not block. SQLite and MariaDB
load with their indexes in place: on SQLite it made no difference that could
be measured (docs/benchmarks.md), and MariaDB commits DDL.
"""

import logging

import sqlalchemy as sa

DEFAULT_LOCK_TIMEOUT = 5.0  # seconds; RESTORE_LOCK_TIMEOUT unless configured
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout runs out
log = logging.getLogger(__name__)

_OWNS_ALL = sa.text(
    "SELECT bool_and(pg_has_role(relowner, 'USAGE')) FROM pg_class "
    "WHERE oid = ANY(CAST(:tables AS regclass[]))"
)
# Plain indexes of the tables: not unique, backing no constraint (a key elsewhere may use a
# unique one), and nothing about them that their definition does not say (clustered on,
# in a tablespace of their own, commented).
_INDEXES = sa.text(
    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
    "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = ANY(CAST(:tables AS regclass[])) "
    "AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisclustered "
    "AND c.reltablespace = 0 AND obj_description(i.indexrelid, 'pg_class') IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
    "ORDER BY i.indexrelid"
)
# Foreign keys declared on the tables (those of other tables referencing them stay).
_FOREIGN_KEYS = sa.text(
    "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE contype = 'f' "
    "AND conrelid = ANY(CAST(:tables AS regclass[])) "
    "AND obj_description(oid, 'pg_constraint') IS NULL ORDER BY oid"
)
# Foreign keys of other tables referencing the tables (they forbid a TRUNCATE).
_REFERENCED_FROM_ELSEWHERE = sa.text(
    "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
    "AND confrelid = ANY(CAST(:tables AS regclass[])) "
    "AND NOT conrelid = ANY(CAST(:tables AS regclass[]))"
)
# Other sessions holding a lock on one of the tables, and what they are doing.
_HOLDERS = sa.text(
    "SELECT DISTINCT l.relation::regclass::text, a.pid, a.state, a.application_name, "
    "a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.granted AND l.relation = ANY(CAST(:tables AS regclass[])) "
    "AND l.pid <> pg_backend_pid() ORDER BY 1, 2"
)


def set_aside(conn, tables, lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Drop the secondary indexes and foreign keys of ``tables``; return (put_back, truncated).

    ``put_back()`` recreates every one exactly as it was; call it before the
    transaction commits. ``truncated`` tells whether the tables were emptied
    too (else the caller deletes their rows). On engines other than
    PostgreSQL, for a role that does not own every table, or when another
    session holds a table for longer than ``lock_timeout`` seconds, nothing
    is done.
    """
    if conn.dialect.name != "postgresql" or not tables:
        return (lambda: None), False
    quote = conn.dialect.identifier_preparer
    names = [quote.format_table(table) for table in tables]
    if not conn.execute(_OWNS_ALL, {"tables": names}).scalar():
        return (lambda: None), False
    if not _lock_all(conn, names, lock_timeout):
        return (lambda: None), False
    indexes = conn.execute(_INDEXES, {"tables": names}).all()
    keys = conn.execute(_FOREIGN_KEYS, {"tables": names}).all()
    for table, key, _definition in keys:
        _run(conn, f"ALTER TABLE {table} DROP CONSTRAINT {key}")
    for index, _definition in indexes:
        _run(conn, f"DROP INDEX {index}")
    truncated = not conn.execute(_REFERENCED_FROM_ELSEWHERE, {"tables": names}).scalar()
    if truncated:
        _run(conn, f"TRUNCATE {', '.join(names)}")

    def put_back():
        for _index, definition in indexes:
            _run(conn, definition)
        for table, key, definition in keys:
            _run(conn, f"ALTER TABLE {table} ADD CONSTRAINT {key} {definition}")

    return put_back, truncated


def _lock_all(conn, names, timeout):
    """Lock every table for this transaction, waiting ``timeout`` s at most; False if not had.

    The wait runs in a savepoint of its own: when it times out, the savepoint
    is rolled back and the transaction goes on, holding nothing new.
    """
    savepoint = conn.begin_nested()
    try:
        before = conn.execute(sa.text("SELECT current_setting('lock_timeout')")).scalar()
        milliseconds = max(1, round(timeout * 1000))
        _run(conn, f"SET LOCAL lock_timeout = {milliseconds}")
        _run(conn, f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE")
        conn.execute(sa.text("SELECT set_config('lock_timeout', :value, true)"), {"value": before})
    except Exception as exc:
        savepoint.rollback()
        if getattr(exc, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        _warn_held(conn, names, timeout)
        return False
    savepoint.commit()
    return True


def _warn_held(conn, names, timeout):
    holders = conn.execute(_HOLDERS, {"tables": names}).all()
    held = "; ".join(
        f"{table} by pid {pid} ({state or 'unknown state'}, "
        f"application {application or '-'}, client {client or 'local'})"
        for table, pid, state, application, client in holders
    )
    log.warning(
        "another session held the tables for more than %g s (RESTORE_LOCK_TIMEOUT): %s; "
        "loading with their indexes and keys in place (slower) instead of waiting",
        timeout,
        held or "it has let go since",
    )


def _run(conn, statement):
    """Execute ``statement`` as it is (no parameters: a ``%`` in a definition stays one)."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
