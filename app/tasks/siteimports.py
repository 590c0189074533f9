"""The "Restore from an export file" task: run one restore job of a site."""

import contextlib

from celery import shared_task
from flask import current_app

from app.backup.lock import backup_lock
from app.backup.maintenance import site_maintenance
from app.exports.restorejobs import run_restore_job
from app.extensions import db
from app.tasks.pause import pauses_for_restore


def restore_guard(config):
    """Return ``guard(site_id)``: the backup lock, with that site in maintenance."""

    @contextlib.contextmanager
    def guard(site_id):
        with (
            backup_lock(config, "site restore", wait=config["RESTORE_LOCK_WAIT"]),
            site_maintenance(config, site_id, f"restoring site {site_id} from an export"),
        ):
            yield

    return guard


@shared_task(name="stinkykitty.restore_site_from_export", ignore_result=True, bind=True)
@pauses_for_restore
def run_site_restore(self, job_id):
    """Run restore job ``job_id`` (a no-op if another delivery already took it)."""
    config = current_app.config
    try:
        return run_restore_job(config, db.session, job_id, guard=restore_guard(config))
    finally:
        db.session.remove()
