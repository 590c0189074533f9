"""The MariaDB loader's string literals are the driver's, for any text."""

from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_string

from app.backup.mysqlload import _quote


@given(st.text(alphabet=st.sampled_from("\\\0\n\r\032'\"a é☃\t%") | st.characters()))
def test_quote_gives_the_drivers_literal_for_any_text(text):
    assert _quote(text) == f"'{escape_string(text)}'"
