"""Site history tasks: restore a site to a version in the backups; index older backups."""

from celery import shared_task
from flask import current_app

from app.backup import PausedForRestore, notify
from app.backup.history import index_missing, restore_version
from app.exports import restorejobs, restorerun
from app.extensions import db
from app.models import Site
from app.sitedata import load_site
from app.tasks.pause import pauses_for_restore
from celeryconfig import BACKUP_SOFT_TIME_LIMIT, BACKUP_TIME_LIMIT

PHASES = {"fetch": "fetching"}  # the job's name of a phase of restore_version, if not "restoring"


def from_backup(config):
    """Return the ``replace`` of a history job: its site's rows from its backup, ids kept."""

    def replace(job, *, prepare, progress, before_commit):
        def load(rows, site_id):
            return load_site(
                config,
                db.engine,
                rows,
                replace_site_id=site_id,
                keep_ids=True,
                prepare=prepare,
                before_commit=before_commit,
                site_users_only=True,  # as an owner's restore from a file
            ).to_dict()

        outcome = restore_version(
            config,
            db.engine,
            job["site_id"],
            job["backup_id"],
            load=load,
            progress=lambda phase, done, total: progress(
                done, total, PHASES.get(phase, "restoring")
            ),
        )
        return outcome.summary

    return replace


@shared_task(name="stinkykitty.restore_site_from_history", ignore_result=True, bind=True)
@pauses_for_restore
def run_history_restore(self, job_id):
    """Run history restore job ``job_id`` (a no-op if another delivery already took it)."""
    config = current_app.config
    try:
        state = restorerun.run_restore_job(
            config,
            db.session,
            job_id,
            step_aside=(PausedForRestore,),
            replace=from_backup(config),
        )
        if state is not None:
            notify.report_restore(config, _restore_event(restorejobs.read_job(config, job_id)))
        return state
    finally:
        db.session.remove()


def _restore_event(job):
    """Return the notification event of a finished history restore job."""
    site = db.session.get(Site, job["site_id"])
    return {
        "outcome": "finished" if job["state"] == "done" else "failed",
        "site": site.subdomain if site else f"#{job['site_id']}",
        "backup_id": job["backup_id"],
        "started_by": notify.by_site_user(db.engine, job["user_id"]),
        "started_at": job.get("started_at"),
        "error": job.get("error"),
    }


@shared_task(
    name="stinkykitty.index_backups",
    ignore_result=True,
    soft_time_limit=BACKUP_SOFT_TIME_LIMIT,
    time_limit=BACKUP_TIME_LIMIT,
)
def index_backups():
    """Index the sites of every backup that has no index yet (older backups, fetched ones)."""
    return index_missing(current_app.config)
