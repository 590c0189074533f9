"""The words of every notification: problems that appear, last or clear, restores, the test.

Each function returns a ``Message`` (title, plain-text body, kind); nothing
here sends or reads anything but its arguments.
"""

import socket

from app.backup.notify.channels import Message
from app.humanize import human_time
from app.models import format_utc

PRODUCT = "StinkyKitty backups"
FOOTER = (
    "Sent by {host}. `flask backup status` there tells more; this is repeated every "
    "{repeat} while it lasts, and a message comes when it clears."
)


def _repeat_words(seconds):
    hours = seconds / 3600
    return f"{hours:g} h" if hours >= 1 else f"{seconds / 60:g} min"


def _footer(repeat):
    return FOOTER.format(host=socket.gethostname(), repeat=_repeat_words(repeat))


def _time(text):
    return human_time(text) if text else "?"


def appeared(problems, repeat):
    """Return the message announcing ``problems`` (Problem objects) that just appeared."""
    if len(problems) == 1:
        title = f"{PRODUCT}: {problems[0].label} ({problems[0].summary})"
    else:
        title = f"{PRODUCT}: {len(problems)} problems"
    lines = [f"{p.label}: {p.message}" for p in problems]
    return Message(title, "\n".join([*lines, "", _footer(repeat)]), "failure")


def reminder(problems, entries, repeat):
    """Return the reminder that ``problems`` still last (``entries``: code -> what was told)."""
    if len(problems) == 1:
        title = f"{PRODUCT}: still {problems[0].label} ({problems[0].summary})"
    else:
        title = f"{PRODUCT}: still {len(problems)} problems"
    lines = [
        f"{p.label} since {_time(entries[p.code].get('since'))}: {p.message}" for p in problems
    ]
    return Message(title, "\n".join([*lines, "", _footer(repeat)]), "warning")


def recovered(entries, newest):
    """Return the message that the problems of ``entries`` (what was told) cleared.

    ``newest`` is the newest good backup (a BackupInfo) or None.
    """
    if newest is not None:
        made = format_utc(newest.created_at, timespec="seconds")
        head = f"recovered: backup {newest.backup_id} made at {_time(made)}"
    else:
        head = "recovered"
    lines = [
        f"cleared: {e.get('label')} ({e.get('summary')}), told since {_time(e.get('since'))}"
        for e in entries
    ]
    return Message(f"{PRODUCT} {head}", "\n".join([head, *lines]), "success")


def _scope(event):
    if event.get("site"):
        return f"site {event['site']}"
    return "the whole system"


def _source(event):
    backup = event.get("backup_id")
    return f"backup {backup}" if backup else (event.get("source") or "a file")


def restore_event(event):
    """Return the message of a restore that finished or failed (an outbox event)."""
    scope, source, who = _scope(event), _source(event), event.get("started_by") or "unknown"
    if event.get("outcome") == "finished":
        detail = f" ({event['detail']})" if event.get("detail") else ""
        return Message(
            f"StinkyKitty: restore of {scope} finished",
            f"The restore of {scope} from {source}, started by {who} at "
            f"{_time(event.get('started_at'))}, finished at {_time(event.get('at'))}{detail}.",
            "success",
        )
    return Message(
        f"StinkyKitty: restore of {scope} failed",
        f"The restore of {scope} from {source}, started by {who} at "
        f"{_time(event.get('started_at'))}, failed at {_time(event.get('at'))}: "
        f"{event.get('error')}",
        "failure",
    )


def test_notification():
    """Return the test message of ``flask backup notify --test`` and the backups page."""
    return Message(
        f"{PRODUCT}: test notification",
        f"A test from StinkyKitty on {socket.gethostname()}: backup problems, their recovery "
        "and every restore will be told here.",
        "info",
    )
