"""When the nightly backup runs: ``BACKUP_SCHEDULE`` (a crontab) in ``BACKUP_TIMEZONE``.

``celeryconfig`` puts ``backup_schedule`` into beat's schedule; the status
model (``app.backup.status``) asks ``next_run`` when that is. Only Celery's
crontab type is used here: no Celery app, no broker.
"""

import datetime as dt
import functools


def parse_crontab(expression):
    """Turn a five-field crontab string ("0 2 * * *") into a Celery schedule."""
    from celery.schedules import crontab  # here: Celery takes a while to import, few need it

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"crontab needs 5 fields (minute hour day month weekday): {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def backup_schedule(config):
    """Return BACKUP_SCHEDULE as a crontab, or raise ValueError naming the variable."""
    expression = config["BACKUP_SCHEDULE"]
    try:
        return parse_crontab(expression)
    except ValueError as exc:
        raise ValueError(f"BACKUP_SCHEDULE={expression!r} is not a valid crontab: {exc}") from None


def verify_schedule(config):
    """Return when kept backups are re-verified: BACKUP_VERIFY_SCHEDULE, else after the backup.

    The default is every day 90 minutes after the time of day in BACKUP_SCHEDULE
    (03:30 for the default 02:00), or 03:30 when that names no single time.
    """
    expression = config.get("BACKUP_VERIFY_SCHEDULE") or _daily_after(
        config.get("BACKUP_SCHEDULE", "0 2 * * *")
    )
    try:
        return parse_crontab(expression)
    except ValueError as exc:
        raise ValueError(
            f"BACKUP_VERIFY_SCHEDULE={expression!r} is not a valid crontab: {exc}"
        ) from None


def _daily_after(backup_expression, minutes=90):
    """Return a daily crontab ``minutes`` after the backup's time of day."""
    fields = backup_expression.split()
    if len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit():
        at = (int(fields[1]) * 60 + int(fields[0]) + minutes) % (24 * 60)
        return f"{at % 60} {at // 60} * * *"
    return "30 3 * * *"


@functools.lru_cache(maxsize=8)
def _clock_in(timezone):
    """A Celery app that only knows ``timezone``: what a crontab needs to compute its times."""
    from celery import Celery  # here: as in parse_crontab

    celery_app = Celery("schedule", set_as_current=False)
    celery_app.conf.update(timezone=timezone, enable_utc=True)
    return celery_app


def next_run(config, now):
    """Return when the scheduled backup runs next after naive UTC ``now`` (aware UTC).

    Raises ValueError when BACKUP_SCHEDULE is not a valid crontab.
    """
    schedule = backup_schedule(config)
    schedule.app = _clock_in(config["BACKUP_TIMEZONE"])
    aware = now.replace(tzinfo=dt.UTC)
    schedule.nowfun = lambda: aware
    return (aware + schedule.remaining_estimate(aware)).astimezone(dt.UTC)
