"""The beat schedule: the system backup at BACKUP_SCHEDULE in BACKUP_TIMEZONE, read from the env."""

import datetime as dt

import pytest
from celery import Celery
from celery.beat import ScheduleEntry
from celery.schedules import crontab

import celeryconfig
from app.config import Config
from tests.schedulekit import backup_every


def settings(**environ):
    """Celery's settings built from a Config read from ``environ``."""
    config = Config(environ={"STINKY_DATA_DIR": "/srv/sk", **environ})
    return celeryconfig.build(vars(config))


def backup_entry(**environ):
    """The system-backup beat entry as beat itself loads it (bound to an app in that timezone)."""
    conf = settings(**environ)
    celery_app = Celery("schedule-test")
    celery_app.conf.update(timezone=conf["timezone"], enable_utc=conf["enable_utc"])
    entry = conf["beat_schedule"]["system-backup"]
    return ScheduleEntry(name="system-backup", app=celery_app, **entry)


def due(schedule, last_run, now):
    """Whether ``schedule`` fires at ``now`` (aware) after a run at ``last_run`` (aware)."""
    schedule.nowfun = lambda: now
    return schedule.is_due(last_run).is_due


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_the_backup_entry_runs_the_backup_task_from_the_schedule_variable():
    entry = settings()["beat_schedule"]["system-backup"]
    assert entry["task"] == "stinkykitty.system_backup"
    assert entry["kwargs"] == {"trigger": "schedule"}
    assert entry["schedule"] == crontab(minute="0", hour="2")


def test_changing_the_environment_changes_the_schedule():
    nightly = settings()["beat_schedule"]["system-backup"]["schedule"]
    hourly = settings(BACKUP_SCHEDULE="15 */6 * * 1-5")["beat_schedule"]["system-backup"][
        "schedule"
    ]
    assert nightly == crontab(minute="0", hour="2")
    assert hourly == crontab(minute="15", hour="*/6", day_of_week="1-5")
    assert nightly != hourly


@pytest.mark.parametrize(
    ("zone", "fires_at_utc"),
    [
        ("UTC", utc(2026, 1, 15, 2, 0)),
        ("Europe/Berlin", utc(2026, 1, 15, 1, 0)),  # 02:00 CET
        ("America/New_York", utc(2026, 1, 15, 7, 0)),  # 02:00 EST
    ],
)
def test_the_crontab_fires_at_two_in_the_backup_timezone(zone, fires_at_utc):
    entry = backup_entry(BACKUP_TIMEZONE=zone)
    assert entry.app.conf.timezone == zone
    last = fires_at_utc - dt.timedelta(days=1)
    minute = dt.timedelta(minutes=1)
    assert not due(entry.schedule, last, fires_at_utc - minute)
    assert due(entry.schedule, last, fires_at_utc + dt.timedelta(seconds=5))


def test_summer_time_moves_the_utc_hour_but_not_the_local_one():
    entry = backup_entry(BACKUP_TIMEZONE="Europe/Berlin")
    # In July Berlin is UTC+2: 02:00 local is 00:00 UTC.
    last = utc(2026, 7, 14, 0, 0)
    assert not due(entry.schedule, last, utc(2026, 7, 14, 23, 59))
    assert due(entry.schedule, last, utc(2026, 7, 15, 0, 0, 5))


def test_the_day_summer_time_starts_still_gets_its_backup():
    # 02:00 does not exist in Berlin on 2026-03-29; the backup must not skip the day.
    entry = backup_entry(BACKUP_TIMEZONE="Europe/Berlin")
    last = utc(2026, 3, 28, 1, 0)
    assert due(entry.schedule, last, utc(2026, 3, 29, 1, 0, 5))


def test_the_interval_variable_replaces_the_crontab_for_tests():
    conf = settings(BACKUP_INTERVAL_SECONDS="2.5")
    assert conf["beat_schedule"]["system-backup"]["schedule"] == crontab(minute="0", hour="2")
    backup_every(conf, 2.5)  # what tests/celery_app.py does with BACKUP_INTERVAL_SECONDS
    assert conf["beat_schedule"]["system-backup"]["schedule"] == 2.5
    assert not hasattr(
        Config(environ={"BACKUP_INTERVAL_SECONDS": "2.5"}), "BACKUP_INTERVAL_SECONDS"
    )


def test_a_bad_schedule_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match=r"BACKUP_SCHEDULE='0 2 \* \*' is not a valid crontab"):
        settings(BACKUP_SCHEDULE="0 2 * *")
    with pytest.raises(ValueError, match=r"BACKUP_SCHEDULE='99 2 .*' is not a valid crontab"):
        settings(BACKUP_SCHEDULE="99 2 * * *")


def test_the_backup_time_limits_stay_below_the_visibility_timeout():
    from app.tasks.backups import system_backup

    assert system_backup.soft_time_limit < system_backup.time_limit
    assert system_backup.time_limit == celeryconfig.BACKUP_TIME_LIMIT
    assert celeryconfig.BACKUP_TIME_LIMIT < celeryconfig.VISIBILITY_TIMEOUT
    transport = settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/0")["broker_transport_options"]
    assert transport["visibility_timeout"] > system_backup.time_limit
