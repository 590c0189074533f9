"""The notification check, as beat sends it every NOTIFY_CHECK_INTERVAL (``celeryconfig``).

A dead worker must not silence the alarm, and a worker is what runs the tasks
beat sends: so the beat process also runs the same check itself, in a thread,
every NOTIFY_CHECK_INTERVAL. The check's lock and record (``app.backup.notify``)
make sure the two never tell the same thing twice.
"""

import threading
import time

from celery import shared_task
from celery.signals import beat_init
from flask import current_app

from app.backup import notify

CHECK_TASK = "stinkykitty.notify_check"


@shared_task(name=CHECK_TASK, ignore_result=True)
def notify_check(due_only=False):
    """Tell NOTIFY_URLS of the backup problems that appeared, last or cleared since last told."""
    notify.safe_check(current_app.config, due_only=due_only)


@beat_init.connect
def check_from_beat(sender=None, **kwargs):
    """Start the beat process's own check thread (a check without NOTIFY_URLS does nothing)."""
    celery_app = sender.app
    entry = celery_app.conf.beat_schedule.get("notify-check")
    if entry is None or CHECK_TASK not in celery_app.tasks:
        return
    interval = entry["schedule"].total_seconds()
    task = celery_app.tasks[CHECK_TASK]

    def every_interval():
        while True:
            task(due_only=True)  # runs here, in the app context (FlaskTask)
            time.sleep(interval)

    threading.Thread(target=every_interval, name="beat-notify-check", daemon=True).start()
