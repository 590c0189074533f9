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


def human_time(moment):
    """Return a time for people, "2026-12-04 13:53 UTC": a naive UTC datetime or ISO 8601 text.

    The one format pages and commands show a time in (machines get ISO 8601);
    None reads "—".
    """
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = parse_utc(moment)
    elif moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def human_age(seconds):
    """Return an age like "45 s", "12 min", "5 h 3 min", "3 d 4 h"."""
    seconds = int(seconds)
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def human_ago(seconds):
    """Return "12 min ago", or "3 h from now" for a time ahead of this clock (a clock set back)."""
    if int(seconds) < 0:
        return f"{human_age(-seconds)} from now"
    return f"{human_age(seconds)} ago"
