"""Checking dump values against their columns before a restore writes them, on every engine.

SQLite stores a string in an integer column, an over-long string or a JSON
list where the model holds an object without complaint, and the other engines
coerce some of them; a restore must not depend on that. Every value of a dump
row is checked here against its column's type (and, for JSON, the shape the
model declares: ``Mapped[dict]`` or ``Mapped[list]``) before the row is loaded.
"""

import typing
from types import NoneType

import sqlalchemy as sa

from app.backup.errors import CorruptArchive


def _json_shapes():
    """Return {(table name, column name): dict or list} from the models' Mapped[...] hints."""
    from app.extensions import db

    shapes = {}
    for mapper in db.Model.registry.mappers:
        hints = {}
        for cls in reversed(mapper.class_.__mro__):
            hints.update(getattr(cls, "__annotations__", {}))
        for column in mapper.local_table.columns:
            if not isinstance(column.type, sa.JSON):
                continue
            prop = mapper.get_property_by_column(column)
            args = typing.get_args(hints.get(prop.key))
            if args and typing.get_origin(args[0]) in (dict, list):
                shapes[(mapper.local_table.name, column.name)] = typing.get_origin(args[0])
            elif args and args[0] in (dict, list):
                shapes[(mapper.local_table.name, column.name)] = args[0]
    return shapes


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(column, shape):
    """Return (what the column takes, a test of a JSON-decoded value, its batch test).

    The batch test takes the set of the types of a column's values (None
    left out) and the values themselves, and passes exactly when the value
    test passes for each of them.
    """
    kind = column.type
    if isinstance(kind, sa.Interval):  # a TypeDecorator, dumped as whole microseconds
        return "an integer", _is_int, _types(int)
    if isinstance(kind, sa.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.JSON):
        if shape is None:
            return "JSON", lambda v: True, lambda types, values: True
        expected = f"a JSON {'object' if shape is dict else 'list'}"
        return expected, lambda v: isinstance(v, shape), _types(shape)
    if isinstance(kind, sa.Boolean):
        return "a boolean", lambda v: isinstance(v, bool), _types(bool)
    if isinstance(kind, sa.Integer):
        return "an integer", _is_int, _types(int)
    if isinstance(kind, sa.Float):
        return "a number", lambda v: _is_int(v) or isinstance(v, float), _types(int, float)
    if isinstance(kind, sa.Enum):
        allowed = set(kind.enum_class.__members__) if kind.enum_class else set(kind.enums)
        return (
            f"one of {sorted(allowed)}",
            lambda v: isinstance(v, str) and v in allowed,
            lambda types, values: types <= {str} and allowed.issuperset(values),
        )
    if isinstance(kind, sa.String) and kind.length:
        length = kind.length
        return (
            f"a string of at most {length} characters",
            lambda v: isinstance(v, str) and len(v) <= length,
            lambda types, values: types <= {str} and max(map(len, values), default=0) <= length,
        )
    return "a string", lambda v: isinstance(v, str), _types(str)  # text, dates, decimals, ...


def _types(*types):
    # A decoded JSON value is of one of JSON's own types exactly (bool is not an int here).
    allowed = set(types)
    return lambda types, values: types <= allowed


def value_checks(table):
    """Return check(record, lineno): raise CorruptArchive naming table, row and column."""
    shapes = _json_shapes()
    checks = []
    for column in table.columns:
        expected, test, _batch = _kind(column, shapes.get((table.name, column.name)))
        checks.append((column.name, column.nullable, expected, test))

    def check(record, lineno):
        for name, nullable, expected, test in checks:
            value = record[name]
            if value is None:
                if nullable:
                    continue
                problem = "NULL in a NOT NULL column"
            elif test(value):
                continue
            else:
                shown = repr(value)
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                problem = f"expected {expected}, found {type(value).__name__} {shown}"
            raise CorruptArchive(f"table {table.name}, row {lineno}, column {name}: {problem}")

    return check


def column_checks(table):
    """Return a test per column of a list of its values: True if ``value_checks`` passes them all.

    A column that fails the test is to be checked value by value, which says why.
    """
    shapes = _json_shapes()
    return [_column_check(c, shapes.get((table.name, c.name))) for c in table.columns]


def _column_check(column, shape):
    batch, nullable = _kind(column, shape)[2], column.nullable

    def check(values):
        types = set(map(type, values))
        if NoneType in types:
            if not nullable:
                return False
            types.discard(NoneType)
            values = [value for value in values if value is not None]
        return batch(types, values)

    return check
