"""Column types that behave the same on SQLite, MariaDB and PostgreSQL; how times are written."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.dialects import mysql

# MariaDB's DATETIME drops microseconds unless asked for them; a backup taken
# on one engine must restore to the microsecond on another.
UTCDateTime = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def utcnow():
    """Return the current UTC time as a naive datetime (how all times are stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def format_utc(moment, timespec="microseconds"):
    """Format naive UTC ``moment`` as ISO 8601 ending in "Z" (None stays None)."""
    return None if moment is None else moment.isoformat(timespec=timespec) + "Z"


def parse_utc(text):
    """Parse an ISO 8601 time ("2025-07-01T02:00:00.123456Z", or with an offset) into naive UTC."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
