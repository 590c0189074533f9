"""The MariaDB loader's string literals are the driver's, for any text; statements run in order."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_string

from app.backup.errors import CorruptArchive
from app.dumps.loaders.mysql import _quote, _Sender


@given(st.text(alphabet=st.sampled_from("\\\0\n\r\032'\"a é☃\t%") | st.characters()))
def test_quote_gives_the_drivers_literal_for_any_text(text):
    assert _quote(text) == f"'{escape_string(text)}'"


class _Cursor:
    def __init__(self):
        self.done = []

    def execute(self, statement):
        if statement == "bad":
            raise RuntimeError("the server refused it")
        self.done.append(statement)
        return 2


def test_statements_run_in_order_and_count_their_rows():
    cursor = _Cursor()
    with _Sender(cursor) as send:
        for statement in ("one", "two", "three"):
            send(statement)
    assert cursor.done == ["one", "two", "three"]
    assert send.rows == 6


def test_a_statements_failure_comes_before_an_error_met_after_sending_it():
    def load():
        with _Sender(_Cursor()) as send:
            send("one")
            send("bad")
            raise CorruptArchive("a later line is bad")

    with pytest.raises(RuntimeError, match="the server refused it"):
        load()
