"""A restore's rows as a parameterised ``INSERT`` would send them, for the fast loaders.

``pgcopy``, ``mysqlload`` and ``sqliteload`` bypass SQLAlchemy's executemany;
each value still goes through its column type's bind processor (enum names,
JSON text, type decorators), so every route stores the same values. The
processors run row by row (``bound_rows``) or a column at a time over a block
of rows (``column_binders``), with the same results.
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


def column_binders(conn, table):
    """Return a function per column giving a list of its values bound as ``bound_rows`` binds them.

    The values are decoded (NULL as None, never ``sa.null()``).
    """
    dialect = conn.dialect
    return [_binder(c.type.dialect_impl(dialect).bind_processor(dialect)) for c in table.columns]


def _binder(process):
    def bind(values):
        if process is None:
            return values
        if None in values:
            return [None if value is None else process(value) for value in values]
        return list(map(process, values))

    return bind
