"""A restore's rows as a parameterised ``INSERT`` would send them, for the fast loaders.

``pgcopy``, ``mysqlload`` and ``sqliteload`` bypass SQLAlchemy's executemany;
each value still goes through its column type's bind processor (enum names,
JSON text, type decorators), so every route stores the same values.
"""

import sqlalchemy as sa


def table_sql(conn, table):
    """Return (the quoted table name, its quoted column names joined by ", ")."""
    quote = conn.dialect.identifier_preparer
    return quote.format_table(table), ", ".join(quote.quote(c.name) for c in table.columns)


def bound_rows(conn, table, records):
    """Yield each dict of ``records`` as its values in column order, bound; NULL as None."""
    dialect = conn.dialect
    work = [(c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in table.columns]
    null = sa.null()
    for record in records:
        values = []
        for name, process in work:
            value = record[name]
            if value is None or value is null:
                values.append(None)
            else:
                values.append(value if process is None else process(value))
        yield values
