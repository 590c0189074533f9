"""The check: compare the problems of the status model with what was told, and tell the difference.

``plan`` is the rule, without I/O: a problem not told yet is announced (all
those that appear together in one message), one told longer than
``NOTIFY_REPEAT`` ago is recalled, one told that is gone is declared
recovered. ``run_check`` applies it: it holds the store's lock (so two
processes or hosts never both send), reads the status from the data dir,
sends, then records what reached at least one URL. What reached none is not
recorded as told: the next check tries again. Restores waiting in the outbox
go out in the same check.
"""

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field

from app.backup import catalog, runlog
from app.backup.notify import channels, messages
from app.backup.notify.store import store_for
from app.backup.status import backup_status, current_problems
from app.coordination import redislock
from app.models import format_utc, parse_utc, utcnow

log = logging.getLogger(__name__)

HISTORY = 10  # messages kept in the record, newest first


@dataclass
class Planned:
    """A message and what the record says once it reached someone."""

    message: channels.Message
    told: dict = field(default_factory=dict)  # code -> entry, set once delivered
    cleared: list = field(default_factory=list)  # codes removed once delivered


def _entry(problem, since, now):
    return {
        "label": problem.label,
        "summary": problem.summary,
        "since": format_utc(since, timespec="seconds"),
        "sent_at": format_utc(now, timespec="seconds"),
    }


def plan(told, problems, now, repeat, newest=None):
    """Return the Planned messages for ``problems`` (code -> Problem) against ``told`` at ``now``.

    ``told`` is the record's code -> entry of the problems announced;
    ``repeat`` the seconds between reminders; ``newest`` the newest good backup.
    """
    planned = []
    new = [p for code, p in problems.items() if code not in told]
    if new:
        planned.append(
            Planned(messages.appeared(new, repeat), {p.code: _entry(p, now, now) for p in new})
        )
    due = [
        p
        for code, p in problems.items()
        if code in told and (now - parse_utc(told[code]["sent_at"])).total_seconds() >= repeat
    ]
    if due:
        entries = {p.code: _entry(p, parse_utc(told[p.code]["since"]), now) for p in due}
        planned.append(Planned(messages.reminder(due, told, repeat), entries))
    gone = [code for code in told if code not in problems]
    if gone:
        message = messages.recovered([told[code] for code in gone], newest)
        planned.append(Planned(message, cleared=gone))
    return planned


def speaks_for_backups(config):
    """Whether this host's data dir speaks for the backups (see docs/operations.md).

    Hosts sharing only Redis (BACKUP_LOCK_URL) each see their own data dir; one
    that never ran a backup (a web host) would report "no backup" against the
    worker's good ones, so it tells restores only.
    """
    if not redislock.enabled(config):
        return True
    return runlog.runs_path(config).exists() or bool(catalog.backup_files(config))


@dataclass
class CheckResult:
    """What one check sent: each message with its deliveries."""

    sent: list = field(default_factory=list)  # [(Message, [Delivery])]

    @property
    def failures(self):
        """Return the deliveries that failed."""
        return [d for _m, deliveries in self.sent for d in deliveries if not d.ok]


def remember(state, message, deliveries, now):
    """Record ``message`` and its ``deliveries`` as the last one sent (and any failure)."""
    record = {
        "at": format_utc(now, timespec="seconds"),
        **dataclasses.asdict(message),
        "deliveries": [d.to_dict() for d in deliveries],
    }
    state["last_message"] = record
    state["history"] = [record, *(state.get("history") or [])][:HISTORY]
    failed = [d for d in deliveries if not d.ok]
    if failed:
        state["last_failure"] = {
            "at": record["at"],
            "title": message.title,
            "deliveries": [d.to_dict() for d in failed],
        }


def run_check(
    config,
    *,
    clock=utcnow,
    deliver=channels.deliver,
    wait=0.0,
    due_only=False,
    status_of=backup_status,
):
    """Check the status model and tell NOTIFY_URLS what changed; return a CheckResult.

    Returns None when nothing was checked: no NOTIFY_URLS, another check
    holds the lock (for ``wait`` seconds), or, with ``due_only``, one ran less
    than NOTIFY_CHECK_INTERVAL ago. Never raises for a failed delivery.
    """
    urls = channels.notify_urls(config)
    if not urls:
        return None
    store = store_for(config)
    with store.checking(wait) as state:
        if state is None:
            return None
        now = clock()
        interval = dt.timedelta(seconds=float(config["NOTIFY_CHECK_INTERVAL"]))
        if due_only and state["checked_at"] and now - parse_utc(state["checked_at"]) < interval:
            return None
        planned = []
        if speaks_for_backups(config):
            status = status_of(config, clock=clock)
            repeat = float(config["NOTIFY_REPEAT"])
            planned = plan(state["open"], current_problems(status), now, repeat, status.newest)
        planned += [Planned(messages.restore_event(e)) for e in store.take()]
        result = CheckResult()
        for item in planned:
            deliveries = deliver(urls, item.message)
            result.sent.append((item.message, deliveries))
            remember(state, item.message, deliveries, now)
            if any(d.ok for d in deliveries):
                state["open"].update(item.told)
                for code in item.cleared:
                    state["open"].pop(code, None)
            store.save(state)  # a crash before the next message sends this one not again
        state["checked_at"] = format_utc(now, timespec="seconds")
        store.save(state)
    return result
