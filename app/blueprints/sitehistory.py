""" "Site history" of the site page: the site's versions in the backups, restore one, undo it.

For the site's owner and global admins only (``can_use_site_history``): for
anyone else, signed in or not, every route answers 404, as for a site that
does not exist. Everything shown comes from the site's own index entries and
its own rows (``app.backup.history``); no route sends an archive. A
restore is a restore job of the site (``app.exports.historyjobs``) run by the
task ``stinkykitty.restore_site_from_history``; its status and undo are those
of any restore job of the site, under this page's URLs.
"""

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_login import current_user

from app.backup import BackupNotFound
from app.backup.history import (
    VersionNotFound,
    describe_changes,
    describe_restore,
    site_history,
    version_of,
)
from app.blueprints import current_celery, wants_json
from app.blueprints.maintenance import open_during_site_maintenance
from app.blueprints.siteimport import restore_status
from app.exports import historyjobs, restorejobs
from app.extensions import db
from app.humanize import human_time
from app.models import Site
from app.permissions import can_use_site_history

bp = Blueprint("sitehistory", __name__, url_prefix="/admin")

NOT_FOUND = "No such page."
NO_SUCH_VERSION = "No such version of this site."
NO_SUCH_JOB = "No such restore."
NOT_QUEUED = "The restore could not be queued. Try again in a minute."
TYPE_NAME = "Type the site's name, {subdomain}, to confirm."
RESTORE_TASK = "stinkykitty.restore_site_from_history"


def _not_found(message=NOT_FOUND):
    if wants_json() or request.method == "POST":
        return jsonify(error=message), 404
    return render_template("not_found.html"), 404


@bp.before_request
def _require_login():
    """Answer 404 to anonymous callers: the history of a site is nobody's business but its own."""
    if not current_user.is_authenticated:
        return _not_found()
    return None


def _site(site_id):
    site = db.session.get(Site, site_id)
    return site if can_use_site_history(current_user, site) else None


def _job(site, job_id):
    job = restorejobs.read_job(current_app.config, job_id)
    return job if job is not None and job["site_id"] == site.id else None


def job_status(job):
    """Return a restore job's status under this page's URLs, with its sentence."""
    status = restore_status(job)
    site_id, job_id = job["site_id"], job["id"]
    status["status_url"] = url_for("sitehistory.job_status_view", site_id=site_id, job_id=job_id)
    status["confirm_url"] = None
    if status["undo_url"]:
        status["undo_url"] = url_for("sitehistory.undo", site_id=site_id, job_id=job_id)
    if job["kind"] == "history" and job["state"] == "done":
        counts = (job.get("summary") or {}).get("counts") or {}
        when = human_time((job.get("preview") or {}).get("created_at"))
        status["message"] = (
            f"Restored the version of {when}: {counts.get('pages', 0)} pages, "
            f"{counts.get('media', 0)} media."
        )
    return status


def _version_dict(site, version):
    return {
        **version.to_dict(),
        "created_text": human_time(version.created_at),
        "oldest_text": human_time(version.oldest_created_at),
        "summary": describe_changes(version.changes),
        "restore": describe_restore(version.changes),
        "preview_url": url_for("sitehistory.preview", site_id=site.id, backup_id=version.backup_id),
        "restore_url": url_for("sitehistory.restore", site_id=site.id, backup_id=version.backup_id),
    }


@bp.get("/sites/<int:site_id>/history")
def history_page(site_id):
    """Show the site's versions, newest first, with what differs from the site now."""
    site = _site(site_id)
    if site is None:
        return _not_found()
    config = current_app.config
    history = site_history(config, db.engine, site.id, site.subdomain, index_missing=False)
    if history.not_indexed:
        _index_later()
    versions = [_version_dict(site, v) for v in history.versions]
    if wants_json():
        return jsonify(
            site_id=site.id,
            subdomain=site.subdomain,
            versions=versions,
            not_indexed=len(history.not_indexed),
        )
    latest = restorejobs.latest_job(config, site.id)
    return render_template(
        "site_history.html",
        site=site,
        versions=versions,
        not_indexed=len(history.not_indexed),
        restore=job_status(latest) if latest else None,
    )


def _index_later():
    """Queue the indexing of the backups that have no index yet (at worst, the next view asks)."""
    try:
        current_celery().tasks["stinkykitty.index_backups"].delay()
    except Exception:
        current_app.logger.exception("could not queue the indexing of older backups")


def _version(site, backup_id):
    try:
        return version_of(
            current_app.config, db.engine, site.id, site.subdomain, backup_id, index_missing=False
        )
    except (BackupNotFound, VersionNotFound):
        return None


@bp.get("/sites/<int:site_id>/history/versions/<backup_id>")
def preview(site_id, backup_id):
    """Answer what restoring this version would change (nothing changes yet)."""
    site = _site(site_id)
    version = _version(site, backup_id) if site else None
    if version is None:
        return _not_found(NO_SUCH_VERSION)
    return jsonify(_version_dict(site, version))


@bp.post("/sites/<int:site_id>/history/versions/<backup_id>/restore")
def restore(site_id, backup_id):
    """Queue the restore of this version, once the site's name was typed to confirm it."""
    site = _site(site_id)
    version = _version(site, backup_id) if site else None
    if version is None:
        return _not_found(NO_SUCH_VERSION)
    typed = str((request.get_json(silent=True) or {}).get("confirm", "")).strip().lower()
    if typed != site.subdomain:
        return jsonify(error=TYPE_NAME.format(subdomain=site.subdomain)), 400
    shown = {
        "backup_id": version.backup_id,
        "created_at": version.created_at,
        "subdomain": site.subdomain,
        "title": version.entry["title"],
        "counts": {"pages": version.entry["rows"]["pages"], "media": len(version.entry["media"])},
        "changes": version.changes,
    }
    config = current_app.config
    try:
        job = historyjobs.request_history_restore(
            config, site.id, current_user.id, version.backup_id, shown
        )
    except restorejobs.JobStateError as exc:
        return jsonify(error=str(exc)), 409
    try:
        current_celery().tasks[RESTORE_TASK].delay(job["id"])
    except Exception:  # broker down: say so, and leave no job that looks queued
        current_app.logger.exception("could not queue history restore job %s", job["id"])
        restorejobs.fail_job(config, job["id"], NOT_QUEUED)
        return jsonify(error=NOT_QUEUED), 503
    return jsonify(job_status(job)), 202


@bp.get("/sites/<int:site_id>/history/jobs/<job_id>")
@open_during_site_maintenance
def job_status_view(site_id, job_id):
    """Answer the state, progress and outcome of a restore job of this site."""
    site = _site(site_id)
    job = _job(site, job_id) if site else None
    if job is None:
        return _not_found(NO_SUCH_JOB)
    return jsonify(job_status(job))


@bp.post("/sites/<int:site_id>/history/jobs/<job_id>/undo")
def undo(site_id, job_id):
    """Queue the undo of restore ``job_id``: the site back as that restore found it."""
    site = _site(site_id)
    job = _job(site, job_id) if site else None
    if job is None:
        return _not_found(NO_SUCH_JOB)
    config = current_app.config
    try:
        undo_job = restorejobs.request_undo(config, job_id, current_user.id, site.subdomain)
    except restorejobs.JobStateError as exc:
        return jsonify(error=str(exc)), 409
    try:
        current_celery().tasks["stinkykitty.restore_site_from_export"].delay(undo_job["id"])
    except Exception:
        current_app.logger.exception("could not queue undo job %s", undo_job["id"])
        restorejobs.fail_job(config, undo_job["id"], NOT_QUEUED)
        return jsonify(error=NOT_QUEUED), 503
    return jsonify(job_status(undo_job)), 202
