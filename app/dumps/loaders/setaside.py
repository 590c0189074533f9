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
rather than seeing the old rows, and the load itself waits for any session
still holding one of them open. A system restore runs with the whole app in
maintenance (every request answered 503 before it reads anything) and the
workers paused, so nothing of the app's is there to wait. SQLite and
MariaDB load with their indexes in place: on SQLite it made no difference
that could be measured (docs/benchmarks.md), and MariaDB commits DDL.
"""

import sqlalchemy as sa

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


def set_aside(conn, tables):
    """Drop the secondary indexes and foreign keys of ``tables``; return (put_back, truncated).

    ``put_back()`` recreates every one exactly as it was; call it before the
    transaction commits. ``truncated`` tells whether the tables were emptied
    too (else the caller deletes their rows). On engines other than
    PostgreSQL, or for a role that does not own every table, nothing is done.
    """
    if conn.dialect.name != "postgresql" or not tables:
        return (lambda: None), False
    quote = conn.dialect.identifier_preparer
    names = [quote.format_table(table) for table in tables]
    if not conn.execute(_OWNS_ALL, {"tables": names}).scalar():
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


def _run(conn, statement):
    """Execute ``statement`` as it is (no parameters: a ``%`` in a definition stays one)."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
