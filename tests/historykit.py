"""Helpers of the Site history tests: history restore jobs run as their task runs them."""

from app.backup.errors import PausedForRestore
from app.exports import restorerun
from app.exports.historyjobs import request_history_restore
from app.extensions import db
from app.tasks.sitehistory import from_backup


def queue_history(config, site_id, user_id, backup_id):
    """Queue a history restore of site ``site_id`` to backup ``backup_id``; return the job id."""
    return request_history_restore(config, site_id, user_id, backup_id, {"backup_id": backup_id})[
        "id"
    ]


def run_history(config, job_id):
    """Run history restore job ``job_id`` as the task does; return its final state."""
    db.session.remove()
    try:
        return restorerun.run_restore_job(
            config,
            db.session,
            job_id,
            step_aside=(PausedForRestore,),
            replace=from_backup(config),
        )
    finally:
        db.session.remove()
