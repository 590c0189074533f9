"""Load rows into SQLite with the driver's ``executemany``, a block of rows at a time.

SQLAlchemy's ``executemany`` builds a parameter dict per row and runs each value
through its processors in generic code, which was a third of a SQLite load.
Here each value has gone through the same bind processor of its column type
(``bindrows``), and the rows go as tuples into ``executemany`` on the
caller's connection (inside its transaction), so the stored values are the same.
"""

from app.dumps.bindrows import table_sql


def insert_rows(conn, table, blocks):
    """Insert ``blocks`` of bound columns into ``table``; return the rows inserted."""
    name, columns = table_sql(conn, table)
    marks = ", ".join("?" for _c in table.columns)
    insert = f"INSERT INTO {name} ({columns}) VALUES ({marks})"
    rows = 0
    cursor = conn.connection.driver_connection.cursor()
    try:
        for block in blocks:
            cursor.executemany(insert, zip(*block, strict=True))
            rows += len(block[0])
    finally:
        cursor.close()
    return rows
