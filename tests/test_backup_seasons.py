"""Months of nights with a clock under our control: a busy summer, then the dead season."""

import datetime as dt

from app.backup.catalog import list_backups
from app.backup.runlog import recent_runs
from app.backup.runs import run_backup
from app.backup.status import backup_status
from app.extensions import db
from tests.backupkit import FakeClock

KEEP = 10
BUSY = (dt.date(2026, 6, 1), dt.date(2026, 8, 31))  # a change every day
DEAD = (dt.date(2026, 9, 1), dt.date(2026, 10, 31))  # nobody logs in


def days(first, last):
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def night(day):
    return dt.datetime.combine(day, dt.time(2, 0))


def test_busy_summer_then_dead_season_keeps_the_last_distinct_states(app, make):
    assert app.config["BACKUP_KEEP"] == KEEP
    clock = FakeClock(night(BUSY[0]))
    site = make.site(subdomain="zonnebloem")
    written = []  # (backup id, pages in it) in the order they were made

    def nightly(day):
        clock.now = night(day)
        record, _ = run_backup(app.config, db.engine, trigger="schedule", clock=clock)
        assert record["started_at"] == f"{day:%Y-%m-%d}T02:00:00Z"
        kept = [info.backup_id for info in list_backups(app.config)]
        health = backup_status(app.config, clock=clock)
        assert health.ok, (day, health.problems)
        return record, kept

    for n, day in enumerate(days(*BUSY), start=1):
        clock.now = night(day) - dt.timedelta(hours=10)  # in the afternoon before
        make.page(site, slug=f"day-{n}", title=f"News of {day}")
        record, kept = nightly(day)
        assert record["outcome"] == "ok", day
        written.append((record["backup_id"], n))
        expected = [backup_id for backup_id, _ in written[-KEEP:]][::-1]
        assert kept == expected, day
        if n > KEEP:
            assert record["pruned"] == [written[-KEEP - 1][0]], day

    summer = [backup_id for backup_id, _ in written[-KEEP:]][::-1]
    for day in days(*DEAD):
        record, kept = nightly(day)
        assert record["outcome"] == "unchanged", day
        assert record["backup_id"] == summer[0], day
        assert record["pruned"] == [], day
        assert kept == summer, day

    # No night was missed: one run a night, in order, each started that night.
    every_night = list(days(BUSY[0], DEAD[1]))
    history = recent_runs(app.config)[::-1]
    assert [r["started_at"][:10] for r in history] == [f"{d:%Y-%m-%d}" for d in every_night]
    assert [r["outcome"] for r in history] == ["ok"] * 92 + ["unchanged"] * 61

    # At the end of October the kept backups still reach back to ten distinct summer states.
    infos = list_backups(app.config)
    assert len({info.fingerprint for info in infos}) == KEEP
    pages = [info.counts["pages"] for info in infos]
    assert pages == list(range(92, 92 - KEEP, -1))
    assert infos[-1].created_at == night(dt.date(2026, 8, 22))
