"""Which backups a grandfather-father-son policy keeps: borg's ``prune`` rules, without I/O.

A policy keeps the newest ``last`` backups, plus the newest backup of each of
the ``daily`` most recent days that have backups, of the ``weekly`` most
recent ISO weeks (Monday to Sunday), the ``monthly`` most recent months and
the ``yearly`` most recent years; days, weeks, months and years are those of
the policy's time zone. A count of 0 turns its rule off.

It follows ``borg prune`` (``src/borg/archiver/prune_cmd.py``) exactly:

- The rules run in order: last, daily, weekly, monthly, yearly. Each walks the
  backups from the newest and looks at the newest backup of each period in
  turn, until it has kept its count.
- A backup kept by an earlier rule is not counted again: a later rule that
  meets it as the newest of one of its periods passes on to the next period
  without counting it (so ``last`` 10 and ``daily`` 14 of nightly backups
  reach back 24 days).
- The last rule that is on (the coarsest) also keeps the oldest backup when it
  ran out of backups before keeping its count (borg's ``[oldest]``), so that
  a young history reaches as far back as it can.

``kept_by`` says, for every kept backup, the rules that keep it: the rule
that counted it first, then each later rule that met it as the newest of one
of its periods (``["last", "daily", "monthly"]``); the oldest backup kept
for a rule's shortfall says ``"<rule>[oldest]"``. A period is looked at once,
even in a zone whose clock once went back across midnight.

Nothing here reads files or config: the caller passes (id, time) pairs and a
``Policy`` (``policy_from_config`` builds one from ``BACKUP_KEEP_*`` or
``BACKUP_REMOTE_KEEP_*`` and ``BACKUP_TIMEZONE``).
"""

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RULES = ("last", "daily", "weekly", "monthly", "yearly")
PERIOD_RULES = RULES[1:]
OLDEST = "[oldest]"
SUFFIXES = {rule: "_" + rule.upper() for rule in PERIOD_RULES}  # BACKUP_KEEP_DAILY ...

Backup = tuple[str, dt.datetime]  # (id, when): naive times are UTC


def zone_named(name: str, variable: str = "BACKUP_TIMEZONE") -> ZoneInfo:
    """Return the time zone called ``name``, or raise ValueError naming ``variable``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{variable}={name!r} is not a time zone (an IANA name such as Europe/Amsterdam)"
        ) from None


@dataclass(frozen=True)
class Policy:
    """How many backups each rule keeps (0: the rule is off), and the zone of the periods."""

    last: int = 10
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def __post_init__(self) -> None:
        for rule, count in self.counts().items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"keep {rule} must be a whole number, 0 or more: {count!r}")

    def counts(self) -> dict[str, int]:
        """Return {rule: count}, in the order the rules run."""
        return {rule: getattr(self, rule) for rule in RULES}

    @property
    def tiered(self) -> bool:
        """Whether any rule besides ``last`` is on."""
        return any(getattr(self, rule) for rule in PERIOD_RULES)


def policy_from_config(config: Mapping[str, Any], last: int, prefix: str = "BACKUP_KEEP") -> Policy:
    """Return the policy keeping the newest ``last``, with ``<prefix>_DAILY`` ... ``_YEARLY``.

    The periods are those of BACKUP_TIMEZONE. Raises ValueError naming the
    variable when a count or the zone is not valid.
    """
    counts = {"last": max(1, int(last))}
    for rule, suffix in SUFFIXES.items():
        variable = prefix + suffix
        value = config.get(variable) or 0
        try:
            counts[rule] = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{variable}={value!r} is not a whole number") from None
        if counts[rule] < 0:
            raise ValueError(f"{variable}={value!r}: a count of backups is 0 or more")
    zone = zone_named(str(config.get("BACKUP_TIMEZONE") or "UTC"))
    return Policy(**counts, zone=zone)


def as_utc(when: dt.datetime) -> dt.datetime:
    """Return ``when`` as an aware UTC time (a naive one is taken as UTC)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def period(rule: str, when: dt.datetime, zone: ZoneInfo) -> str:
    """Return the period of ``rule`` that ``when`` falls in, in ``zone``: "2026-06-01",
    "2026-W23", "2026-06" or "2026"."""
    local = as_utc(when).astimezone(zone)
    if rule == "daily":
        return local.date().isoformat()
    if rule == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if rule == "monthly":
        return f"{local.year}-{local.month:02d}"
    if rule == "yearly":
        return f"{local.year:04d}"
    raise ValueError(f"no periods for the rule {rule!r}")


def newest_first(backups: Iterable[Backup]) -> list[tuple[dt.datetime, str]]:
    """Return (aware UTC time, id) pairs, newest first (the larger id first at equal times)."""
    return sorted(((as_utc(when), backup_id) for backup_id, when in backups), reverse=True)


def kept_by(backups: Iterable[Backup], policy: Policy) -> dict[str, list[str]]:
    """Return {id: [the rules that keep it]} for the backups ``policy`` keeps (see above).

    ``backups`` are (id, time) pairs in any order; an id missing from the
    result is not kept by any rule.
    """
    ordered = newest_first(backups)
    reasons: dict[str, list[str]] = {}
    active = [(rule, count) for rule, count in policy.counts().items() if count > 0]
    for index, (rule, count) in enumerate(active):
        periods = _unique if rule == "last" else _periods(rule, policy.zone)
        counted = _walk(ordered, rule, count, periods, reasons)
        if index == len(active) - 1 and counted < count and ordered:
            oldest = ordered[-1][1]
            reasons.setdefault(oldest, [rule + OLDEST])
    return reasons


def _unique(when: dt.datetime, backup_id: str) -> str:
    """The period of ``last``: every backup is one of its own."""
    return backup_id


def _periods(rule: str, zone: ZoneInfo) -> Callable[[dt.datetime, str], str]:
    """Return the period function of ``rule`` in ``zone``."""
    return lambda when, _backup_id: period(rule, when, zone)


def _walk(
    ordered: list[tuple[dt.datetime, str]],
    rule: str,
    count: int,
    periods: Callable[[dt.datetime, str], str],
    reasons: dict[str, list[str]],
) -> int:
    """Apply one rule to ``ordered`` (newest first), noting it in ``reasons``; return its count."""
    counted, seen = 0, set()
    for when, backup_id in ordered:
        if counted >= count:
            break
        key = periods(when, backup_id)
        if key in seen:
            continue  # not the newest of its period
        seen.add(key)
        if backup_id in reasons:
            reasons[backup_id].append(rule)  # kept already: the period passes, uncounted
        else:
            reasons[backup_id] = [rule]
            counted += 1
    return counted
