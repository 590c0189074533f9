"""Site export tasks: run one "Download my site" job, and sweep old exports."""

import functools
from dataclasses import asdict

from celery import shared_task
from flask import current_app

from app.exports import jobs, restorejobs, uploads
from app.extensions import db
from app.models import utcnow
from app.tasks.pause import pauses_for_restore


@shared_task(name="stinkykitty.export_site", ignore_result=True, bind=True)
@pauses_for_restore
def run_site_export(self, job_id):
    """Run export job ``job_id`` (a no-op if another delivery already took it)."""
    return jobs.run_export_job(current_app.config, db.session, job_id)


@shared_task(name="stinkykitty.sweep_site_exports", bind=True)
@pauses_for_restore
def sweep_site_exports(self):
    """Delete expired exports, temporaries, uploads and restore jobs; fail stuck jobs; say so."""
    config = current_app.config
    report = asdict(jobs.sweep_exports(config, db.session))
    read_job = functools.partial(restorejobs.read_job, config)
    report["expired_uploads"] = uploads.expire_uploads(
        restorejobs.imports_dir(config), read_job, clock=utcnow
    )
    report["restore_jobs"] = restorejobs.sweep_restore_jobs(config)
    return report
