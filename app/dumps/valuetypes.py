"""Checking dump values against their columns before a restore writes them, on every engine.

SQLite stores a string in an integer column, an over-long string or a JSON
list where the model holds an object without complaint, and the other engines
coerce some of them; a restore must not depend on that. Every value of a dump
row is checked here against its column's type (and, for JSON, the shape the
model declares: ``Mapped[dict]`` or ``Mapped[list]``) and against what the
engine it is written to stores exactly (``app.models.storable``: integer
ranges, NUL and lone surrogates, JSON depth) before the row is loaded.
"""

import math
import typing
from types import NoneType

import sqlalchemy as sa

from app.archive import CorruptArchive
from app.models import integer_range, json_problem, text_byte_limit, text_problem, texts_problem


def _json_shapes():
    """Return {(table name, column name): what the models allow} of JSON and chosen columns.

    That is dict or list from a JSON column's Mapped[...] hint, or the tuple of
    the values a column's ``info["choices"]`` allows (block types, roles).
    """
    from app.extensions import db

    shapes = {}
    for mapper in db.Model.registry.mappers:
        hints = {}
        for cls in reversed(mapper.class_.__mro__):
            hints.update(getattr(cls, "__annotations__", {}))
        for column in mapper.local_table.columns:
            if "choices" in column.info:
                shapes[(mapper.local_table.name, column.name)] = tuple(column.info["choices"])
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


def _kind(column, shape, dialect):
    """Return (what the column takes, a test of a JSON-decoded value, its batch test).

    The test returns None for a value the column takes, else what is wrong
    with it. The batch test takes the set of the types of a column's values
    (None left out) and the values themselves, and passes exactly when the
    value test passes for each of them.
    """
    kind = column.type
    if isinstance(kind, sa.Interval):  # a TypeDecorator, dumped as whole microseconds
        return _integers("an integer", -(2**63), 2**63 - 1)
    if isinstance(kind, sa.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(shape, tuple):
        return _choices(shape)
    if isinstance(kind, sa.JSON):
        return _json(shape, dialect)
    if isinstance(kind, sa.Boolean):
        return _plain("a boolean", lambda v: isinstance(v, bool), bool)
    if isinstance(kind, sa.Integer):
        return _integers("an integer", *integer_range(kind, dialect))
    if isinstance(kind, sa.Float):
        return _floats()
    if isinstance(kind, sa.Enum):
        allowed = set(kind.enum_class.__members__) if kind.enum_class else set(kind.enums)
        return (
            f"one of {sorted(allowed)}",
            lambda v: None if isinstance(v, str) and v in allowed else "",
            lambda types, values: types <= {str} and allowed.issuperset(values),
        )
    length = kind.length if isinstance(kind, sa.String) else None
    expected = f"a string of at most {length} characters" if length else "a string"
    return _strings(expected, length, text_byte_limit(kind, dialect), dialect)  # dates too


def _choices(allowed):
    allowed_set = set(allowed)
    return (
        f"one of {list(allowed)}",
        lambda v: None if isinstance(v, str) and v in allowed_set else "",
        lambda types, values: types <= {str} and allowed_set.issuperset(values),
    )


def _plain(expected, test, *types):
    return expected, lambda v: None if test(v) else "", _types(*types)


def _integers(expected, lowest, highest):
    def test(value):
        if not _is_int(value):
            return ""
        if not lowest <= value <= highest:
            return f"{_shown(value)} is out of the column's range ({lowest} to {highest})"
        return None

    def batch(types, values):
        return types <= {int} and (not values or lowest <= min(values) <= max(values) <= highest)

    return expected, test, batch


def _floats():
    def test(value):
        if not (_is_int(value) or isinstance(value, float)):
            return ""
        try:
            if math.isfinite(float(value)):
                return None
        except OverflowError:
            pass
        return f"{_shown(value)} is not a finite floating-point number"

    def batch(types, values):
        return types <= {int, float} and all(test(v) is None for v in values)

    return "a number", test, batch


def _strings(expected, length, byte_limit, dialect):
    def test(value):
        if not isinstance(value, str) or (length and len(value) > length):
            return ""
        problem = text_problem(value, dialect, byte_limit)
        return f"the string {_shown(value)} {problem}" if problem else None

    def batch(types, values):
        if not types <= {str} or (length and max(map(len, values), default=0) > length):
            return False
        return texts_problem(values, dialect, byte_limit) is None

    return expected, test, batch


def _json(shape, dialect):
    def test(value):
        if shape is not None and not isinstance(value, shape):
            return ""
        problem = json_problem(value, dialect)
        return f"the JSON value {problem}" if problem else None

    def batch(types, values):  # the block's text was screened for lone surrogates
        return (shape is None or types <= {shape}) and all(
            json_problem(v, dialect, strings=False) is None for v in values
        )

    if shape is None:
        return "JSON", test, batch
    return f"a JSON {'object' if shape is dict else 'list'}", test, batch


def _types(*types):
    # A decoded JSON value is of one of JSON's own types exactly (bool is not an int here).
    allowed = set(types)
    return lambda types, values: types <= allowed


def _shown(value):
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def value_checks(table, dialect):
    """Return check(record, lineno): raise CorruptArchive naming table, row and column.

    ``dialect`` names the engine the values are for (``app.models.storable``).
    """
    shapes = _json_shapes()
    checks = []
    for column in table.columns:
        expected, test, _batch = _kind(column, shapes.get((table.name, column.name)), dialect)
        checks.append((column.name, column.nullable, expected, test))

    def check(record, lineno):
        for name, nullable, expected, test in checks:
            value = record[name]
            if value is None:
                if nullable:
                    continue
                problem = "NULL in a NOT NULL column"
            else:
                problem = test(value)
                if problem is None:
                    continue
                if not problem:
                    problem = f"expected {expected}, found {type(value).__name__} {_shown(value)}"
            raise CorruptArchive(f"table {table.name}, row {lineno}, column {name}: {problem}")

    return check


def column_checks(table, dialect):
    """Return a test per column of a list of its values: True if ``value_checks`` passes them all.

    A column that fails the test is to be checked value by value, which says why.
    """
    shapes = _json_shapes()
    return [_column_check(c, shapes.get((table.name, c.name)), dialect) for c in table.columns]


def _column_check(column, shape, dialect):
    batch, nullable = _kind(column, shape, dialect)[2], column.nullable

    def check(values):
        types = set(map(type, values))
        if NoneType in types:
            if not nullable:
                return False
            types.discard(NoneType)
            values = [value for value in values if value is not None]
        return batch(types, values)

    return check
