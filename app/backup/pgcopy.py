"""Load rows into PostgreSQL with ``COPY ... FROM STDIN``, inside the caller's transaction.

A multi-row ``INSERT`` through the driver costs a round of SQL building and
parameter binding per batch; ``COPY`` streams the rows in PostgreSQL's text
format instead, several times faster on a restore. Each value first goes
through its column type's bind processor, exactly as an ``INSERT`` would send
it (enum names, JSON text, type decorators), so both routes store the same
values.
"""

import sqlalchemy as sa


def copy_rows(conn, table, records):
    """Write every dict of ``records`` into ``table`` with one COPY; return the rows written."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer
    columns = list(table.columns)
    names = [c.name for c in columns]
    processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    work = list(zip(names, processors, strict=True))
    statement = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) FROM STDIN"
    )
    null = sa.null()
    rows = 0
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for record in records:
            values = []
            for name, process in work:
                value = record[name]
                if value is null:
                    value = None
                elif process is not None:
                    value = process(value)
                values.append(value)
            copy.write_row(values)
            rows += 1
    return rows
