"""The nightly system backup, as Celery beat sends it (see ``celeryconfig.beat_schedule``).

The task is thin: ``app.backup.runs.run_backup`` makes the backup, applies
retention and records the run. Whatever the scheduler does to it (two beat
processes, a manual ``flask backup create`` at the same moment, Redis handing
the same message out twice), the backup lock lets exactly one backup run; the
others record ``skipped``, log that one is already running and end cleanly.
"""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from app.backup import BackupLocked, BackupRunFailed, run_backup, verify_due, webjobs
from app.extensions import db
from app.tasks.pause import pauses_for_restore
from celeryconfig import BACKUP_SOFT_TIME_LIMIT, BACKUP_TIME_LIMIT

log = logging.getLogger(__name__)


@shared_task(
    name="stinkykitty.system_backup",
    bind=True,
    # The soft limit raises inside the backup, which cleans up and records
    # "time limit hit"; the hard limit kills the process if even that hangs.
    soft_time_limit=BACKUP_SOFT_TIME_LIMIT,
    time_limit=BACKUP_TIME_LIMIT,
    # A failed run is recorded and logged once, at ERROR, by run_backup; the
    # worker only marks the task failed. Nothing retries a backup but the next night.
    throws=(BackupRunFailed,),
)
@pauses_for_restore
def system_backup(self, trigger="schedule"):
    """Make a system backup, apply retention and return the run record."""
    try:
        record, _ = run_backup(
            current_app.config,
            db.engine,
            trigger=trigger,
            task_id=self.request.id,
            time_limit_errors=(SoftTimeLimitExceeded,),
        )
    except BackupLocked as exc:
        log.warning("system backup not started, one is already running: %s", exc)
        return {"outcome": "skipped", "error": str(exc)}
    return record


@shared_task(
    name="stinkykitty.verify_backups",
    soft_time_limit=BACKUP_SOFT_TIME_LIMIT,
    time_limit=BACKUP_TIME_LIMIT,
)
def verify_backups():
    """Fully verify kept backups, most due first, within BACKUP_VERIFY_BUDGET; return results."""
    return verify_due(current_app.config)


@shared_task(
    name="stinkykitty.backups_page_job",
    bind=True,
    ignore_result=True,
    soft_time_limit=BACKUP_SOFT_TIME_LIMIT,
    time_limit=BACKUP_TIME_LIMIT,
)
@pauses_for_restore
def backups_page_job(self, job_id):
    """Run a job of the backups page (back up now, verify, roll back a site)."""
    try:
        return webjobs.run_job(
            current_app.config,
            db.engine,
            job_id,
            task_id=self.request.id,
            time_limit_errors=(SoftTimeLimitExceeded,),
        )
    finally:
        db.session.remove()
