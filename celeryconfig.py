"""Celery settings: broker, result backend, reliability and the beat schedule.

``build(config)`` turns the Flask config (``app.config.Config``) into Celery's
settings, so the environment is read in one place only. What the embedded
broker needs comes from ``app.broker``, when the backup runs from
``app.backup.schedule``.
"""

from datetime import timedelta
from pathlib import Path

from app import broker
from app.backup import backup_schedule, parse_crontab, verify_schedule

# The longest task we run is a system backup of a large deployment. Redis hands
# an unacknowledged task to another worker after `visibility_timeout`, so it
# must outlast the hard time limit, or a slow backup would run twice at once
# (the backup lock would refuse the second, but it would still be noise).
BACKUP_TIME_LIMIT = 4 * 3600
VISIBILITY_TIMEOUT = BACKUP_TIME_LIMIT + 3600
# The backup task is told to stop this long before it is killed, so it can
# clean up and record "time limit hit".
BACKUP_SOFT_TIME_LIMIT = BACKUP_TIME_LIMIT - 600


def build(config):
    """Return Celery's settings for the Flask config mapping ``config``."""
    broker_url = config["CELERY_BROKER_URL"]
    settings = {
        "broker_url": broker_url,
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
    if broker_url.startswith("redis"):
        settings["broker_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT}
        settings["result_backend_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    broker.use_embedded_broker(broker_url)
    return settings


def beat_schedule(config):
    """Return the periodic tasks (the nightly backup, the notification check and the sweeps)."""
    schedule = {**backup_entries(config), **broker.beat_entries(config["CELERY_BROKER_URL"])}
    if config.get("BACKUP_STORAGE_URL"):  # off-site copies: checked daily, after the backup
        schedule["verify-remote-backups"] = {
            "task": "stinkykitty.verify_remote_backups",
            "schedule": parse_crontab(config.get("BACKUP_REMOTE_VERIFY_SCHEDULE") or "30 4 * * *"),
        }
    schedule["notify-check"] = {  # someone is told, even when no backup runs
        "task": "stinkykitty.notify_check",
        "schedule": timedelta(seconds=config["NOTIFY_CHECK_INTERVAL"]),
    }
    schedule["sweep-site-exports"] = {
        "task": "stinkykitty.sweep_site_exports",
        "schedule": timedelta(seconds=config["EXPORT_SWEEP_INTERVAL"]),
    }
    schedule["sweep-media-trash"] = {
        "task": "stinkykitty.sweep_media_trash",
        "schedule": timedelta(seconds=config["MEDIA_TRASH_SWEEP_INTERVAL"]),
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
