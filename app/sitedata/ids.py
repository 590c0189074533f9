"""Inserting one site's rows, with the ids they had where no other site has taken them since.

A one-site restore from a system backup (``keep_ids``) gives each row its old id
when that id is free, so links from outside the site's data keep working; a row
whose id another site took since gets a new one, and the caller rewrites the
references to it. An import gives every row a new id.
"""

import sqlalchemy as sa

from app.models import utcnow

CHUNK = 500


def insert_rows(conn, table, rows, *, keep_ids):
    """Insert ``rows`` into ``table``; return ({id in the data: id given}, rows renumbered).

    Rows keep their id when ``keep_ids`` and it is free, else get a new one;
    missing times are now. The count of renumbered rows is 0 without ``keep_ids``.
    """
    now = utcnow()
    for row in rows:
        for key in ("created_at", "updated_at"):
            if key in row and row[key] is None:
                row[key] = now
    wanted = [r["id"] for r in rows if r["id"] is not None] if keep_ids else []
    taken = set()
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start : start + CHUNK]
        taken |= set(conn.scalars(sa.select(table.c.id).where(table.c.id.in_(part))))
    keep = [r for r in rows if keep_ids and r["id"] is not None and r["id"] not in taken]
    fresh = [r for r in rows if not (keep_ids and r["id"] is not None) or r["id"] in taken]
    mapping = {r["id"]: r["id"] for r in keep}
    for start in range(0, len(keep), CHUNK):
        conn.execute(sa.insert(table), keep[start : start + CHUNK])
    if keep:
        fix_id_counter(conn, table)
    for row in fresh:
        values = {k: v for k, v in row.items() if k != "id"}
        inserted = conn.execute(sa.insert(table).values(**values))
        mapping[row["id"]] = inserted.inserted_primary_key[0]
    return mapping, len(fresh) if keep_ids else 0


def fix_id_counter(conn, table):
    """Move a PostgreSQL sequence past the ids of ``table`` (never backwards).

    MariaDB and SQLite move their counters on explicit ids by themselves.
    """
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer
    name = quote.format_table(table)
    query = sa.text("SELECT pg_get_serial_sequence(:t, 'id')")
    sequence = conn.execute(query, {"t": name}).scalar()
    if sequence is not None:
        conn.exec_driver_sql(
            f"SELECT setval('{sequence}', GREATEST((SELECT COALESCE(MAX(id), 0) FROM {name}), "
            f"(SELECT last_value FROM {sequence})))"
        )
