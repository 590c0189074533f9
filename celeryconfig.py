"""Celery settings: broker, result backend, reliability and the beat schedule.

``build(config)`` turns the Flask config (``app.config.Config``) into Celery's
settings, so the environment is read in one place only.
"""

from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab

# The longest task we run is a system backup of a large deployment. Redis hands
# an unacknowledged task to another worker after `visibility_timeout`, so it
# must outlast the hard time limit, or a slow backup would run twice at once
# (the backup lock would refuse the second, but it would still be noise).
BACKUP_TIME_LIMIT = 4 * 3600
VISIBILITY_TIMEOUT = BACKUP_TIME_LIMIT + 3600
# The backup task is told to stop this long before it is killed, so it can
# clean up and record "time limit hit".
BACKUP_SOFT_TIME_LIMIT = BACKUP_TIME_LIMIT - 600

EMBEDDED_POLLING_INTERVAL = 0.1  # seconds between polls of the SQLite broker
BROKER_SWEEP_INTERVAL = 3600.0  # seconds between sweeps of the embedded broker's used messages


def build(config):
    """Return Celery's settings for the Flask config mapping ``config``."""
    broker = config["CELERY_BROKER_URL"]
    settings = {
        "broker_url": broker,
        "result_backend": config["CELERY_RESULT_BACKEND"],
        "broker_connection_retry_on_startup": True,
        # Acknowledge after the task ran, and give the message back if the
        # worker process dies mid-task, so a crash never silently drops work.
        # Our tasks are safe to run twice (locks and job states make them so).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # No task outlives this hard limit, which keeps it below visibility_timeout.
        "task_time_limit": BACKUP_TIME_LIMIT,
        # One task at a time per worker process: a backup must not sit
        # prefetched behind another long task.
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 7 * 24 * 3600,
        "timezone": config["BACKUP_TIMEZONE"],
        "enable_utc": True,
        "beat_schedule_filename": str(Path(config["STINKY_DATA_DIR"], "celerybeat-schedule")),
        "beat_schedule": beat_schedule(config),
    }
    if broker.startswith("redis"):
        settings["broker_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT}
        settings["result_backend_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if broker.startswith("sqla+"):
        use_embedded_broker()
    return settings


def beat_schedule(config):
    """Return the periodic tasks (the nightly backup and the sweeps)."""
    schedule = {**backup_entries(config)}
    if config["CELERY_BROKER_URL"].startswith("sqla+"):
        # The embedded broker keeps every delivered message; drop them hourly.
        schedule["sweep-embedded-broker"] = {
            "task": "stinkykitty.sweep_broker",
            "schedule": BROKER_SWEEP_INTERVAL,
        }
    schedule["sweep-site-exports"] = {
        "task": "stinkykitty.sweep_site_exports",
        "schedule": timedelta(seconds=config["EXPORT_SWEEP_INTERVAL"]),
    }
    return schedule


def backup_entries(config):
    """Return the beat entries of the system backup (with retention) and of its verification."""
    return {
        "system-backup": {
            "task": "stinkykitty.system_backup",
            "schedule": backup_schedule(config),
            "kwargs": {"trigger": "schedule"},
        },
        "verify-backups": {
            "task": "stinkykitty.verify_backups",
            "schedule": verify_schedule(config),
        },
    }


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


def backup_schedule(config):
    """Return when the system backup runs: BACKUP_SCHEDULE in BACKUP_TIMEZONE (Celery's timezone).

    BACKUP_INTERVAL_SECONDS, when set, replaces it with a plain interval; it
    exists for tests that need a backup every few seconds, not for production.
    """
    interval = config.get("BACKUP_INTERVAL_SECONDS")
    if interval:
        return float(interval)
    expression = config["BACKUP_SCHEDULE"]
    try:
        return parse_crontab(expression)
    except ValueError as exc:
        raise ValueError(f"BACKUP_SCHEDULE={expression!r} is not a valid crontab: {exc}") from None


def parse_crontab(expression):
    """Turn a five-field crontab string ("0 2 * * *") into a Celery schedule."""
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


def use_embedded_broker():
    """Make kombu's SQLAlchemy transport poll quickly.

    It must be a class attribute: kombu passes transport options straight to
    ``create_engine``, which rejects ``polling_interval``.
    """
    from kombu.transport.sqlalchemy import Transport

    Transport.polling_interval = EMBEDDED_POLLING_INTERVAL


def prepare_embedded_broker(broker_url):
    """Create the SQLite broker's tables once, before several processes race to."""
    if not broker_url.startswith("sqla+"):
        return
    from kombu import Connection

    with Connection(broker_url) as conn:
        conn.default_channel.session  # noqa: B018  (opening the channel creates the tables)
