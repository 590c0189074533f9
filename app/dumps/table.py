"""Write one table's dump file, a batch of rows at a time (the format is in ``app.dumps.dump``).

The bytes are those of ``json.dumps(row_dict, ensure_ascii=False,
separators=(",", ":"))`` per row, JSON columns spliced in last as stored, so
they never change for the same content. They are produced column by column
rather than row by row: each column of a batch becomes a list of JSON values
in one pass of C code (``encode_basestring`` for strings, one JSON array split
on its commas for numbers), and the lines are one ``%`` format per row. The
JSON encoder reached through ``json.dumps`` writes each value with the same
functions, so the bytes are the same; this only spares Python work per row.
"""

import datetime as dt
import hashlib
import json
import re
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

import sqlalchemy as sa
from sqlalchemy.engine import processors

BATCH = 1000
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
if c_make_encoder is not None:  # what _encoder.encode runs, less its circular-reference check
    _chunks = c_make_encoder(
        None, _encoder.default, encode_basestring, None, ":", ",", False, False, True
    )
else:  # pragma: no cover - CPython always has the C encoder

    def _chunks(value, _level):
        return [_encoder.encode(value)]


# Characters that many line readers (Python's str.splitlines among them) take
# for line breaks; escaped so that every row stays on one line for every tool.
_LINE_BREAKS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))

# SQLAlchemy's own SQLite text of a valid date and datetime ("2025-07-01",
# "2025-07-01 12:00:00.000001"), in ASCII digits, in ranges that every month has
# (29 and 30 February, 31 of short months and year 0 are left to the full parse).
_DATE = (
    r"(?!0000)[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_DATETIME = _DATE + r" (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}"


def datetime_iso(value):
    """Return a date-time's ISO text with microseconds, as dumps hold it."""
    return value.isoformat(timespec="microseconds")


def dump_table(conn, table, path, encoder, tee=None, where=None):
    """Write ``table``'s rows in key order to ``path``; return (rows, size, sha256).

    ``encoder(column)`` gives the function turning the column's Python values
    into JSON-ready ones, or None (as is). ``where``, a clause, keeps only some rows.
    """
    selects, plain, converters, spliced = [], [], [], []
    for column in table.columns:
        raw = _json_as_text(conn, column) if isinstance(column.type, sa.JSON) else None
        if raw is not None:
            spliced.append((column.name, raw))
            continue
        text, convert = _text_select(conn, column, encoder)
        if convert is not None:
            converters.append((len(selects), convert))
        selects.append(column if text is None else text)
        plain.append(column.name)
    selects += [raw for _name, raw in spliced]
    names = plain + [name for name, _raw in spliced]
    line = ",".join(_encoder.encode(name).replace("%", "%%") + ":%s" for name in names)
    line = "{" + line + "}\n"
    packed = _packable(conn, table, selects, converters)
    if packed:
        rest = [expr for index, expr in enumerate(selects) if index not in packed]
        array = sa.func.json_array(*(_unlabeled(selects[index]) for index in packed))
        selects = [array.label("packed"), *rest]
    stmt = sa.select(*selects).order_by(*table.primary_key.columns)
    if where is not None:
        stmt = stmt.where(where)
    digest, rows, size = hashlib.sha256(), 0, 0
    with open(path, "xb") as out:
        for columns in _column_batches(conn, stmt):
            if packed:
                columns = _unpack(columns, packed)
            for index, convert in converters:
                columns[index] = convert(columns[index])
            width = len(plain)
            values = [_encode_column(c) for c in columns[:width]]
            texts = [_json_texts(c) for c in columns[width:]]
            if any("\n" in held or "\r" in held for held in map("".join, texts)):
                # Stored JSON text with line breaks between its tokens: put it on one line.
                texts = [[_one_line_json(t) for t in c] for c in texts]
            text = "".join(map(line.__mod__, zip(*values, *texts, strict=True)))
            if not text.isascii():
                for char, escape in _LINE_BREAKS:
                    if char in text:
                        text = text.replace(char, escape)
            data = text.encode("utf-8")
            out.write(data)
            if tee is not None:
                tee(data)
            digest.update(data)
            rows += len(columns[0])
            size += len(data)
    return rows, size, digest.hexdigest()


def _column_batches(conn, stmt):
    """Yield the rows of ``stmt`` a batch at a time, as a list of columns (tuples of values).

    On SQLite the rows come straight from the driver's cursor, through the
    result processors SQLAlchemy would apply (few: the dump selects text),
    which spares building a Row per row.
    """
    compiled = stmt.compile(dialect=conn.dialect)
    if conn.dialect.name != "sqlite" or compiled.params:
        for partition in conn.execute(stmt.execution_options(yield_per=BATCH)).partitions():
            yield list(zip(*partition, strict=True))
        return
    dialect = conn.dialect
    processing = [
        (index, process)
        for index, column in enumerate(stmt.selected_columns)
        if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
    ]
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled))
        while batch := cursor.fetchmany(BATCH):
            columns = list(zip(*batch, strict=True))
            for index, process in processing:
                columns[index] = list(map(process, columns[index]))
            yield columns
    finally:
        cursor.close()


def _packable(conn, table, selects, converters):
    """Return the indexes of the columns MariaDB should send in one JSON array per row.

    Its pure-Python driver spends most of a dump decoding each value of each
    row; one ``JSON_ARRAY`` of the integer and string columns (and of the
    date-times it formats as text) is one value to decode, and the array, read
    back by ``json.loads``, gives exactly the same ints and strings.
    """
    if conn.dialect.name not in ("mysql", "mariadb"):
        return []
    converted = {index for index, _convert in converters}
    columns = {column.name: column for column in table.columns}
    packed = []
    for index, expr in enumerate(selects):
        kind = columns[expr.name].type if expr.name in columns else None
        if index in converted or kind is None or isinstance(kind, sa.TypeDecorator):
            continue
        text = isinstance(kind, sa.DateTime) and expr is not columns[expr.name]
        plain = (
            isinstance(kind, sa.Integer | sa.String)
            and not isinstance(kind, sa.Enum)
            and not getattr(kind, "zerofill", False)  # the driver reads "007" as 7, JSON would not
            and kind.dialect_impl(conn.dialect).result_processor(conn.dialect, None) is None
        )
        if text or plain:
            packed.append(index)
    return packed if len(packed) > 1 else []


def _unlabeled(expr):
    return expr.element if isinstance(expr, sa.Label) else expr


def _unpack(columns, packed):
    """Return the columns of a batch whose first column holds the ``packed`` ones as JSON arrays."""
    arrays = json.loads("[" + ",".join(columns[0]) + "]", strict=False)
    unpacked = list(zip(*arrays, strict=True))
    rest = iter(columns[1:])
    places = dict(zip(packed, unpacked, strict=True))
    return [places[i] if i in places else next(rest) for i in range(len(packed) + len(columns) - 1)]


def _encode_column(values):
    """Return the JSON text of each of a column's values (JSON-ready Python values)."""
    try:
        return list(map(encode_basestring, values))  # strings, the common case
    except TypeError:
        pass
    array = "".join(_chunks(list(values), 0))
    if '"' not in array and array.count("[") == 1:  # numbers, booleans, nulls: no commas inside
        return array[1:-1].split(",")
    return ["".join(_chunks(value, 0)) for value in values]


def _json_texts(texts):
    """Return stored JSON texts with SQL NULL as ``null``."""
    if None in texts:
        return ["null" if text is None else text for text in texts]
    return texts


def _one_line_json(text):
    """Return JSON ``text`` on one line (stored text may hold line breaks between tokens)."""
    if "\n" in text or "\r" in text:
        return _encoder.encode(json.loads(text))
    return text


def _text_select(conn, column, encoder):
    """Return (select expression or None for the column itself, batch converter or None)."""
    text = _datetime_as_text(conn, column)
    if text is not None:
        return text, None
    encode = encoder(column)
    if conn.dialect.name == "sqlite" and not isinstance(column.type, sa.TypeDecorator):
        parse = column.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
        if parse is processors.str_to_datetime and encode is datetime_iso:
            return _stored_text(column), _canonical_converter(_DATETIME, parse, encode, True)
        if parse is processors.str_to_date and encode is dt.date.isoformat:
            return _stored_text(column), _canonical_converter(_DATE, parse, encode, False)
    if encode is None:
        return None, None
    return None, lambda values: [value if value is None else encode(value) for value in values]


def _stored_text(column):
    return sa.type_coerce(column, sa.String).label(column.name)


def _canonical_converter(pattern, parse, encode, t_separator):
    """Return a batch converter of stored SQLite text to ``encode(parse(text))``.

    Text in SQLAlchemy's own form already is that ISO text (with a ``T`` for
    the space of a datetime); any other value takes the full way, as SQLAlchemy
    would read it, so odd stored forms (no microseconds, another separator, a
    time zone) give exactly the text they gave before, and invalid ones fail.
    """
    one = re.compile(pattern).fullmatch
    many = re.compile(f"{pattern}(?:\n{pattern})*").fullmatch

    def full(value):
        if isinstance(value, str) and one(value):
            return value.replace(" ", "T") if t_separator else value
        return encode(parse(value))

    def convert(values):
        try:
            joined = "\n".join(values)
        except TypeError:  # NULL, or a value stored as a number or bytes
            joined = None
        if joined is not None and many(joined):
            done = (joined.replace(" ", "T") if t_separator else joined).split("\n")
            if len(done) == len(values):  # no value held a line break of its own
                return done
        return [value if value is None else full(value) for value in values]

    return convert


def _json_as_text(conn, column):
    """Return a select expression giving a JSON column's stored text, or None if unsupported.

    Decoding each JSON value and encoding it again was a third of a dump's time;
    the stored text is spliced into the line instead. It is valid JSON: SQLite's
    ``json()`` checks and minifies it (a malformed value fails the backup, as
    decoding it did), MariaDB checks JSON columns on write (``json_valid``) and
    PostgreSQL's ``json`` type on input. The same stored value always gives the
    same text, so the dump stays deterministic.
    """
    name = conn.dialect.name
    if name == "sqlite":
        expr = sa.func.json(column)
    elif name == "postgresql":
        expr = sa.cast(column, sa.Text)
    elif name in ("mysql", "mariadb"):
        expr = sa.type_coerce(column, sa.Text)
    else:
        return None
    return expr.label(column.name)


def _datetime_as_text(conn, column):
    """Return a select expression giving a naive datetime as our ISO text, or None.

    The server formats it exactly as ``datetime_iso`` would (always six digits of
    microseconds), which spares the driver building a datetime object per value
    only for it to be formatted again (most of a MariaDB dump's conversions).
    """
    kind = column.type
    if not isinstance(kind, sa.DateTime) or kind.timezone or isinstance(kind, sa.TypeDecorator):
        return None
    name = conn.dialect.name
    if name == "postgresql":
        expr = sa.func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.US')
    elif name in ("mysql", "mariadb"):
        expr = sa.func.date_format(column, "%Y-%m-%dT%H:%i:%s.%f")
    else:
        return None  # SQLite stores text whose form depends on who wrote it
    return expr.label(column.name)
