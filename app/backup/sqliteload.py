"""Load rows into SQLite with the driver's ``executemany`` over all of a table's rows.

SQLAlchemy's ``executemany`` builds a parameter dict per row and runs each value
through its processors in generic code, which was a third of a SQLite load.
Here each value goes through the same bind processor of its column type, and
the rows stream as tuples into one ``executemany`` on the caller's connection
(inside its transaction), so the stored values are the same.
"""

from app.backup.bindrows import bound_rows, table_sql


def insert_rows(conn, table, records):
    """Insert every dict of ``records`` into ``table``; return the rows inserted."""
    name, columns = table_sql(conn, table)
    marks = ", ".join("?" for _c in table.columns)
    rows = 0

    def counted():
        nonlocal rows
        for values in bound_rows(conn, table, records):
            rows += 1
            yield values

    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", counted())
    finally:
        cursor.close()
    return rows
