"""Every index and constraint of every table, and a seeded dump to load: for the load tests."""

import re

import sqlalchemy as sa

from app.dumps.dump import dump_database
from app.extensions import db
from tests.backupkit import database_state, seed_everything


def schema(engine):
    """Return every index and constraint of every table: as SQLAlchemy reflects it, and as the
    engine itself defines it (PostgreSQL's catalogue, SQLite's schema SQL, MariaDB's DDL)."""
    inspector = sa.inspect(engine)
    reflected = {}
    for table in sorted(inspector.get_table_names()):
        reflected[table] = {
            "primary key": inspector.get_pk_constraint(table),
            "indexes": sorted(map(repr, inspector.get_indexes(table))),
            "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
            "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
        }
    return reflected, _definitions(engine)


def _definitions(engine):
    with engine.connect() as conn:
        name = engine.dialect.name
        if name == "postgresql":
            indexes = conn.execute(
                sa.text(
                    "SELECT tablename, indexname, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() ORDER BY 1, 2"
                )
            ).all()
            constraints = conn.execute(
                sa.text(
                    "SELECT conrelid::regclass::text, conname, contype, "
                    "pg_get_constraintdef(oid), condeferrable, condeferred, convalidated "
                    "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
                    "ORDER BY 1, 2"
                )
            ).all()
            return indexes, constraints
        if name == "sqlite":
            return conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
            ).all()
        tables = sa.inspect(conn).get_table_names()
        return {
            table: re.sub(
                r" AUTO_INCREMENT=\d+",
                "",
                conn.exec_driver_sql(f"SHOW CREATE TABLE `{table}`").one()[1],
            )
            for table in tables
        }


def seeded_dump(make, tmp_path):
    """Seed every table and dump it; return (entries for load_database, rows, schema)."""
    seed_everything(make, media_files=3)
    db.session.remove()
    tables = db.metadata.sorted_tables
    (tmp_path / "dump").mkdir()
    dump = dump_database(db.engine, tmp_path / "dump", tables)
    entries = [(table, each.path) for table, each in zip(tables, dump.tables, strict=True)]
    return entries, database_state(), schema(db.engine)


def object_ids(conn):
    return conn.execute(
        sa.text(
            "SELECT 'index ' || indexrelid::regclass::text, indexrelid::int FROM pg_index "
            "WHERE indrelid = 'blocks'::regclass UNION ALL "
            "SELECT 'constraint ' || conname, oid::int FROM pg_constraint "
            "WHERE conrelid = 'blocks'::regclass"
        )
    ).all()
