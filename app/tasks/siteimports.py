"""The "Restore from an export file" task: run one restore job of a site."""

from celery import shared_task
from flask import current_app

from app.backup import PausedForRestore, notify
from app.coordination import site_guard
from app.exports import restorejobs, restorerun
from app.extensions import db
from app.models import Site
from app.tasks.pause import pauses_for_restore


def restore_guard(config):
    """Return the guard of a restore job: it waits up to RESTORE_LOCK_WAIT seconds for the lock.

    It steps aside for a whole-system restore (``app.coordination.guard``): the
    job is queued again and the task retried later.
    """
    return site_guard(config, "site restore", wait=config["RESTORE_LOCK_WAIT"])


@shared_task(name="stinkykitty.restore_site_from_export", ignore_result=True, bind=True)
@pauses_for_restore
def run_site_restore(self, job_id):
    """Run restore job ``job_id`` (a no-op if another delivery already took it)."""
    config = current_app.config
    try:
        state = restorerun.run_restore_job(
            config,
            db.session,
            job_id,
            guard=restore_guard(config),
            step_aside=(PausedForRestore,),
        )
        if state is not None:
            notify.report_restore(
                config, _restore_event(config, restorejobs.read_job(config, job_id))
            )
        return state
    finally:
        db.session.remove()


def _restore_event(config, job):
    """Return the notification event of a finished restore job of a site's page."""
    site = db.session.get(Site, job["site_id"])
    return {
        "outcome": "finished" if job["state"] == "done" else "failed",
        "site": site.subdomain if site else f"#{job['site_id']}",
        "source": "the state saved before the last restore (undo)"
        if job["kind"] == "undo"
        else "an uploaded export file",
        "started_by": notify.by_site_user(db.engine, job["user_id"]),
        "started_at": job.get("started_at"),
        "error": job.get("error"),
    }
