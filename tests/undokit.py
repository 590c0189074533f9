"""Helpers of the restore and undo tests: a site's exact state, and restore jobs run by hand."""

import contextlib
import io

from app.exports import restorejobs, restorerun
from app.extensions import db
from app.models import Site
from app.tasks.siteimports import restore_guard
from tests.backupkit import database_state
from tests.sitekit import site_files, site_rows


def exact_site(config, site_id):
    """Return (rows, files) of one site: every row and every file's bytes.

    Tags are compared as (media id, tag): an export does not carry a tag's own id.
    """
    db.session.remove()
    rows = site_rows(database_state(), site_id)
    rows["media_tags"] = sorted((r["media_id"], r["tag"]) for r in rows["media_tags"])
    return rows, site_files(config, site_id)


def hooked_guard(config, *, waiting=None, inside=None):
    """Return the task's guard, calling ``waiting()`` before it locks and ``inside()`` after."""
    real = restore_guard(config)

    @contextlib.contextmanager
    def guard(site_id):
        if waiting is not None:
            waiting()
        with real(site_id):
            if inside is not None:
                inside()
            yield

    return guard


def _subdomain(site_id):
    return db.session.get(Site, site_id).subdomain


def queue_restore(config, site_id, user_id, data):
    """Upload export bytes ``data`` for site ``site_id`` and confirm it; return the job id."""
    subdomain = _subdomain(site_id)
    job = restorejobs.receive_upload(config, site_id, subdomain, user_id, io.BytesIO(data))
    return restorejobs.confirm_job(config, job["id"], allow_other_site=True)["id"]


def run(config, job_id, guard=None, **kw):
    """Run restore job ``job_id`` as the task does; return its final state."""
    db.session.remove()
    try:
        return restorerun.run_restore_job(
            config, db.session, job_id, guard=guard or restore_guard(config), **kw
        )
    finally:
        db.session.remove()


def undo(config, job_id, site_id, user_id):
    """Queue the undo of job ``job_id`` (of site ``site_id``); return the undo job's id."""
    return restorejobs.request_undo(config, job_id, user_id, _subdomain(site_id))["id"]
