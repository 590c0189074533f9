"""The "Restore from an export file" task: run one restore job of a site."""

import contextlib
import time

from celery import shared_task
from flask import current_app

from app.backup import notify
from app.backup.errors import BackupLocked, PausedForRestore
from app.backup.lock import backup_lock
from app.backup.maintenance import maintenance_state, site_maintenance
from app.exports.restorejobs import read_job, run_restore_job
from app.extensions import db
from app.models import Site
from app.tasks.pause import pauses_for_restore


def restore_guard(config):
    """Return ``guard(site_id)``: the backup lock, with that site in maintenance.

    It waits up to RESTORE_LOCK_WAIT seconds for the lock, but not for a
    whole-system restore: that one waits for this task to end before it
    touches anything, so once its maintenance flag is up the task steps aside
    (PausedForRestore: the job is queued again and the task retried later).
    """

    @contextlib.contextmanager
    def guard(site_id):
        with contextlib.ExitStack() as held:
            deadline = time.monotonic() + config["RESTORE_LOCK_WAIT"]
            while True:
                state = maintenance_state(config)
                if state is not None:
                    reason = state.get("reason", "a restore runs")
                    raise PausedForRestore(f"site restore paused: {reason}")
                try:
                    held.enter_context(backup_lock(config, "site restore"))  # tries ~1 s
                    break
                except BackupLocked:
                    if time.monotonic() >= deadline:
                        raise
            held.enter_context(
                site_maintenance(config, site_id, f"restoring site {site_id} from an export")
            )
            yield

    return guard


@shared_task(name="stinkykitty.restore_site_from_export", ignore_result=True, bind=True)
@pauses_for_restore
def run_site_restore(self, job_id):
    """Run restore job ``job_id`` (a no-op if another delivery already took it)."""
    config = current_app.config
    try:
        state = run_restore_job(
            config,
            db.session,
            job_id,
            guard=restore_guard(config),
            step_aside=(PausedForRestore,),
        )
        if state is not None:
            notify.report_restore(config, _restore_event(config, read_job(config, job_id)))
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
