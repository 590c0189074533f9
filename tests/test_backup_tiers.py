"""Tiered retention's rules: borg's prune, checked against a plain rewrite of its words.

The reference below shares no code with ``app.backup.tiers``: it groups the
backups by period with its own period names (the Monday of a week rather than
the ISO week number) and applies the rules as docs/backups.md states them.
"""

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.backup import tiers
from app.backup.catalog import backup_files, list_backups
from app.backup.runs import run_backup
from app.backup.tiers import Policy, kept_by
from app.config import Config
from app.extensions import db
from tests.backupkit import FakeClock

UTC = dt.UTC
ORDER = ("last", "daily", "weekly", "monthly", "yearly")
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # half-hour DST
    "America/Sao_Paulo",  # DST changed at midnight (until 2019)
    "Asia/Kathmandu",  # +05:45
)


# --- the reference: the rules as the docs say them, written plainly -------------------


def period_name(rule, backup_id, when, zone):
    """The period ``when`` (naive UTC) falls in for ``rule``, in ``zone``."""
    local = when.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    if rule == "last":
        return backup_id  # every backup a period of its own
    if rule == "daily":
        return local.strftime("%Y-%m-%d")
    if rule == "weekly":
        return str(local.date() - dt.timedelta(days=local.weekday()))  # its Monday
    if rule == "monthly":
        return local.strftime("%Y-%m")
    return local.strftime("%Y")


def reference(backups, counts, zone):
    """{id: [rules]}: per rule, the newest backup of each of the N most recent periods."""
    newest_first = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)
    kept = {}
    on = [rule for rule in ORDER if counts[rule] > 0]
    for rule in on:
        heads = {}  # period -> its newest backup; dicts keep the order met, newest first
        for backup_id, when in newest_first:
            heads.setdefault(period_name(rule, backup_id, when, zone), backup_id)
        taken = 0
        for head in heads.values():
            if taken == counts[rule]:
                break
            if head in kept:
                kept[head].append(rule)  # kept by an earlier rule: named, not counted
            else:
                kept[head] = [rule]
                taken += 1
        if rule == on[-1] and taken < counts[rule] and newest_first:
            oldest = newest_first[-1][0]  # the last rule short of its count keeps the oldest
            kept.setdefault(oldest, [rule + "[oldest]"])
    return kept


# --- time series with gaps, dead seasons and the zones' own edges ---------------------


@functools.cache
def transitions(zone, first_year=2015, last_year=2028):
    """The UTC instants (naive) at which ``zone``'s offset changed, found by bisection."""
    tz = ZoneInfo(zone)
    found = []
    t = dt.datetime(first_year, 1, 1, tzinfo=UTC)
    end = dt.datetime(last_year, 12, 31, tzinfo=UTC)
    step = dt.timedelta(hours=6)
    while t < end:
        if t.astimezone(tz).utcoffset() != (t + step).astimezone(tz).utcoffset():
            low, high = t, t + step
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                same = middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            found.append(high.replace(tzinfo=None))
        t += step
    return found


def local_midnights(zone, day):
    """Naive UTC instants of the local midnight starting ``day`` and of the 1st of its month."""
    tz = ZoneInfo(zone)
    moments = []
    for date in (day, day.replace(day=1), day.replace(month=1, day=1)):
        local = dt.datetime.combine(date, dt.time(0, 0), tzinfo=tz)
        moments.append(local.astimezone(UTC).replace(tzinfo=None))
    return moments


gaps = st.one_of(
    st.just(dt.timedelta(days=1)),  # nightly
    st.just(dt.timedelta(0)),  # two in the same second
    st.integers(1, 180).map(lambda m: dt.timedelta(minutes=m)),
    st.integers(1, 72).map(lambda h: dt.timedelta(hours=h)),
    st.integers(2, 200).map(lambda d: dt.timedelta(days=d)),  # a dead season
)


@st.composite
def series(draw):
    """(zone, [(id, naive UTC time)]): a random walk, plus moments on the zone's edges."""
    zone = draw(st.sampled_from(ZONES))
    start = draw(st.datetimes(dt.datetime(2015, 1, 1), dt.datetime(2027, 1, 1)))
    moments = [start]
    for gap in draw(st.lists(gaps, max_size=60)):
        moments.append(moments[-1] + gap)
    edges = transitions(zone) or [dt.datetime(2020, 3, 29, 1)]
    for _ in range(draw(st.integers(0, 12))):
        edge = draw(st.sampled_from(edges))
        if draw(st.booleans()):
            edge = draw(st.sampled_from(local_midnights(zone, moments[-1].date())))
        moments.append(edge + dt.timedelta(seconds=draw(st.integers(-7200, 7200))))
    moments.sort()
    return zone, [(f"b{n:04d}", when) for n, when in enumerate(moments)]


counts = st.fixed_dictionaries(
    {
        "last": st.integers(0, 6),
        "daily": st.integers(0, 10),
        "weekly": st.integers(0, 6),
        "monthly": st.integers(0, 6),
        "yearly": st.integers(0, 3),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series(), counts)
def test_the_rules_keep_what_the_reference_keeps(series, counts):
    zone, backups = series
    policy = Policy(**counts, zone=ZoneInfo(zone))
    assert kept_by(backups, policy) == reference(backups, counts, zone)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series(), counts)
def test_what_is_kept_is_kept_again_and_no_rule_keeps_more_than_its_count(series, counts):
    zone, backups = series
    policy = Policy(**counts, zone=ZoneInfo(zone))
    kept = kept_by(backups, policy)
    again = kept_by([b for b in backups if b[0] in kept], policy)
    assert again == kept  # pruning twice deletes nothing more
    for rule in ORDER:
        counted = [k for k in kept.values() if k[0] in (rule, rule + "[oldest]")]
        assert len(counted) <= counts[rule]
    newest = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)[: counts["last"]]
    assert all(kept[backup_id][0] == "last" for backup_id, _ in newest)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series(), counts.map(lambda c: {**c, "last": max(1, c["last"])}))
def test_pruning_after_every_backup_keeps_what_pruning_once_keeps(series, counts):
    zone, backups = series
    policy = Policy(**counts, zone=ZoneInfo(zone))
    kept: list = []
    for backup in backups:
        kept = [b for b in [*kept, backup] if b[0] in kept_by([*kept, backup], policy)]
    assert {b[0] for b in kept} == set(kept_by(backups, policy))


def test_aware_and_naive_times_are_the_same_instant():
    """23:30 and 00:30 UTC on the night Berlin springs forward: one Berlin day, two UTC days."""
    berlin = ZoneInfo("Europe/Berlin")
    naive = [("a", dt.datetime(2026, 3, 28, 23, 30)), ("b", dt.datetime(2026, 3, 29, 0, 30))]
    aware = [(i, when.replace(tzinfo=UTC).astimezone(berlin)) for i, when in naive]
    policy = Policy(last=1, daily=2, zone=berlin)
    in_berlin = {"b": ["last", "daily"], "a": ["daily[oldest]"]}  # daily found one day only
    assert kept_by(naive, policy) == kept_by(aware, policy) == in_berlin
    in_utc = Policy(last=1, daily=2, zone=ZoneInfo("UTC"))
    assert kept_by(aware, in_utc) == {"b": ["last", "daily"], "a": ["daily"]}


def test_days_weeks_and_years_are_those_of_the_zone():
    """New Year's Eve at 23:30 in New York is already 2027 in UTC: the zone decides."""
    new_york = ZoneInfo("America/New_York")
    late = dt.datetime(2027, 1, 1, 4, 30)  # 2026-12-31 23:30 in New York
    assert tiers.period("daily", late, new_york) == "2026-12-31"
    assert tiers.period("weekly", late, new_york) == "2026-W53"
    assert tiers.period("monthly", late, new_york) == "2026-12"
    assert tiers.period("yearly", late, new_york) == "2026"
    assert tiers.period("yearly", late, ZoneInfo("UTC")) == "2027"
    backups = [("eve", late), ("day", dt.datetime(2026, 12, 31, 15))]
    assert set(kept_by(backups, Policy(last=0, yearly=1, zone=new_york))) == {"eve"}
    utc = Policy(last=0, yearly=2, zone=ZoneInfo("UTC"))
    assert set(kept_by(backups, utc)) == {"eve", "day"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BACKUP_TIMEZONE": "Mars/Olympus"}, "BACKUP_TIMEZONE='Mars/Olympus' is not a time zone"),
        ({"BACKUP_TIMEZONE": "../../etc/passwd"}, "is not a time zone"),
        ({"BACKUP_KEEP_DAILY": "-1"}, "BACKUP_KEEP_DAILY='-1': a count of backups is 0 or more"),
        (
            {"BACKUP_REMOTE_KEEP_YEARLY": "three"},
            "BACKUP_REMOTE_KEEP_YEARLY='three' is not a whole",
        ),
    ],
)
def test_a_bad_setting_is_refused_by_name(environ, message, tmp_path):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Config(environ={"STINKY_DATA_DIR": str(tmp_path), **environ})


def test_the_tiers_are_off_unless_set(tmp_path):
    config = Config(environ={"STINKY_DATA_DIR": str(tmp_path), "BACKUP_KEEP_WEEKLY": "8"})
    policy = tiers.policy_from_config(vars(config), config.BACKUP_KEEP)
    assert policy.counts() == {"last": 10, "daily": 0, "weekly": 8, "monthly": 0, "yearly": 0}
    assert policy.zone == ZoneInfo("UTC")
    remote = tiers.policy_from_config(vars(config), 30, prefix="BACKUP_REMOTE_KEEP")
    assert remote.counts() == {"last": 30, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0}
    assert not remote.tiered


# --- a year of nights through the real retention ----------------------------------------

RECIPE = {"BACKUP_KEEP_DAILY": 14, "BACKUP_KEEP_WEEKLY": 8, "BACKUP_KEEP_MONTHLY": 12}
RECIPE["BACKUP_KEEP_YEARLY"] = 3
BERLIN = ZoneInfo("Europe/Berlin")


def every_period(rule, first, last):
    """The names of ``rule``'s periods from the one of date ``first`` to that of ``last``."""
    names, day = [], first
    while day <= last:
        name = tiers.period(
            rule, dt.datetime.combine(day, dt.time(12)).replace(tzinfo=BERLIN), BERLIN
        )
        if name not in names:
            names.append(name)
        day += dt.timedelta(days=1)
    return names


def test_a_year_of_nights_with_the_seasonal_recipe(app, make):
    """Nightly at 00:30 in Berlin (the day before, in UTC): 44 kept at New Year's Eve, no gap."""
    app.config.update(RECIPE, BACKUP_TIMEZONE="Europe/Berlin", BACKUP_SKIP_UNCHANGED=False)
    counts = {"last": 10, "daily": 14, "weekly": 8, "monthly": 12, "yearly": 3}
    make.site(subdomain="zonnebloem")
    clock, made = FakeClock(), []
    day = dt.date(2026, 1, 1)
    while day.year == 2026:
        local = dt.datetime.combine(day, dt.time(0, 30), tzinfo=BERLIN)
        clock.now = local.astimezone(UTC).replace(tzinfo=None)
        record, _ = run_backup(app.config, db.engine, trigger="schedule", clock=clock)
        made.append((record["backup_id"], clock.now))
        kept = {path.name.removesuffix(".tar.gz") for path in backup_files(app.config)}
        assert kept == set(reference(made, counts, "Europe/Berlin")), day
        assert len(kept) <= sum(counts.values()), day
        day += dt.timedelta(days=1)

    infos = list_backups(app.config)
    assert len(infos) == 10 + 14 + 8 + 11 + 1  # last, daily, weekly, monthly, the oldest
    local_days = [info.created_at.replace(tzinfo=UTC).astimezone(BERLIN).date() for info in infos]
    assert local_days[:24] == [dt.date(2026, 12, 31) - dt.timedelta(days=n) for n in range(24)]
    assert local_days[-1] == dt.date(2026, 1, 1)  # the oldest, kept as yearly is short
    # No gap: every day of the last 24, every ISO week since W42, every month has its backup.
    when = [info.created_at.replace(tzinfo=UTC) for info in infos]
    for rule, first in (("weekly", dt.date(2026, 10, 12)), ("monthly", dt.date(2026, 1, 1))):
        held = {tiers.period(rule, w, BERLIN) for w in when}
        assert set(every_period(rule, first, dt.date(2026, 12, 31))) <= held, rule
    assert len(every_period("weekly", dt.date(2026, 10, 12), dt.date(2026, 12, 31))) == 12
