"""Column types that behave the same on SQLite, MariaDB and PostgreSQL."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.dialects import mysql

# MariaDB's DATETIME drops microseconds unless asked for them; a backup taken
# on one engine must restore to the microsecond on another.
UTCDateTime = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def utcnow():
    """Return the current UTC time as a naive datetime (how all times are stored)."""
    return datetime.now(UTC).replace(tzinfo=None)
