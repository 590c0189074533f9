"""Load rows into PostgreSQL with ``COPY ... FROM STDIN``, inside the caller's transaction.

A multi-row ``INSERT`` through the driver costs a round of SQL building and
parameter binding per batch; ``COPY`` streams the rows in PostgreSQL's text
format instead, several times faster on a restore. Each value first goes
through its column type's bind processor, exactly as an ``INSERT`` would send
it (enum names, JSON text, type decorators), so both routes store the same
values.
"""

from app.dumps.bindrows import table_sql


def copy_rows(conn, table, blocks):
    """Write ``blocks`` of bound columns into ``table`` with one COPY; return the rows written."""
    name, columns = table_sql(conn, table)
    rows = 0
    with (
        conn.connection.driver_connection.cursor() as cursor,
        cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy,
    ):
        for columns in blocks:
            for values in zip(*columns, strict=True):
                copy.write_row(values)
            rows += len(columns[0])
    return rows
