"""How people are told times, ages and sizes: one format each, for commands, pages and messages.

A time reads "2026-12-04 13:53 UTC", an age "5 h 3 min" or "12 min ago", a size
"6.3 MiB" (IEC units). Machines get ISO 8601 (``app.models.types.format_utc``)
and plain numbers. ``human_size`` lives with the archive, whose messages name
sizes too and which imports nothing of the app; it is offered here beside the rest.
"""

from datetime import UTC

from app.archive import human_size
from app.models import parse_utc

__all__ = ["human_age", "human_ago", "human_size", "human_time"]


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
