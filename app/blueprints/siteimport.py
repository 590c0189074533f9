""" "Restore from an export file" on the site page: upload, preview, confirm, poll, undo.

Every route names the site in its URL and checks that the user may manage it;
a job is found only under the site it was uploaded for, so an upload can only
ever change that site. An export of another site is refused unless a global
admin confirms it. The upload is the request body itself (the export file,
streamed to disk) and bounded as ``app.exports.uploads`` says (size, disk,
content, one at a time, ``SITE_IMPORT_MAX_PENDING`` waiting); CSRF comes in a header.
"""

from urllib.parse import unquote

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_login import current_user

from app.blueprints import current_celery
from app.blueprints.maintenance import open_during_site_maintenance
from app.exports import restorejobs, uploads
from app.extensions import csrf, db
from app.models import Site
from app.permissions import can_manage_site

bp = Blueprint("siteimport", __name__, url_prefix="/admin")

NOT_YOURS = "You may not restore this site."
NO_SUCH_JOB = "No such restore."
NOT_QUEUED = "The restore could not be queued. Try again in a minute."
OTHER_SITE = "This export is of another site ({subdomain}); only a global admin may restore it."
_REFUSAL_STATUS = {
    uploads.UploadTooLarge: 413,
    uploads.UploadBusy: 409,
    uploads.NoRoomForUpload: 507,
}  # any other refusal: 400, not an export this server restores


def _error(status, message):
    return jsonify(error=message), status


@bp.before_request
def _require_login():
    """Answer 401 JSON to anonymous callers (the page's script is the only client)."""
    if not current_user.is_authenticated:
        return _error(401, "Log in first.")
    return None


def _site(site_id):
    site = db.session.get(Site, site_id)
    return site if can_manage_site(current_user, site) else None


def _job(site, job_id):
    job = restorejobs.read_job(current_app.config, job_id)
    return job if job is not None and job["site_id"] == site.id else None


def restore_message(job):
    """Return the sentence the page shows for a finished job (the script shows the same)."""
    if job["state"] == "failed":
        what = "Undo failed" if job["kind"] == "undo" else "Restore failed"
        return f"{what}: {job['error'] or 'unknown error'}"
    if job["state"] != "done":
        return None
    counts = (job.get("summary") or {}).get("counts") or {}
    held = f"{counts.get('pages', 0)} pages, {counts.get('media', 0)} media"
    if job["kind"] == "undo":
        return f"Undone: the site is back as it was before the restore ({held})."
    return f"Restored: {held}."


def restore_status(job):
    """Return the JSON a restore job's status URL answers.

    ``undo_url`` is offered for a restore that replaced the site while its saved
    state is kept, never for an undo (which would undo the undo).
    """
    config = current_app.config
    site_id, job_id = job["site_id"], job["id"]
    undo = job["kind"] != "undo" and restorejobs.undo_available(config, job)
    return {
        "job_id": job_id,
        "site_id": site_id,
        "kind": job["kind"],
        "state": job["state"],
        "progress": job["progress"],
        "error": job["error"],
        "preview": job["preview"],
        "other_site": job["other_site"],
        "summary": job["summary"],
        "created_at": job["created_at"],
        "finished_at": job["finished_at"],
        "file_name": job.get("file_name"),
        "message": restore_message(job),
        "status_url": url_for("siteimport.restore_status_view", site_id=site_id, job_id=job_id),
        "confirm_url": url_for("siteimport.confirm_restore", site_id=site_id, job_id=job_id),
        "undo_url": url_for("siteimport.undo_restore", site_id=site_id, job_id=job_id)
        if undo
        else None,
    }


def _queue(job):
    try:
        current_celery().tasks["stinkykitty.restore_site_from_export"].delay(job["id"])
    except Exception:  # broker down: say so, and leave no job that looks queued
        current_app.logger.exception("could not queue restore job %s", job["id"])
        restorejobs.fail_job(current_app.config, job["id"], NOT_QUEUED)
        return _error(503, NOT_QUEUED)
    return jsonify(restore_status(job)), 202


def _upload_name():
    """Return the name of the user's file (the script sends it URL-encoded), or a stand-in."""
    name = unquote(request.headers.get("X-Upload-Name", "")).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:200]
    return name or "the file"


@bp.post("/sites/<int:site_id>/restore")
@csrf.exempt  # checked below, once the body's own size limit is set
def upload_export(site_id):
    """Receive an export file for this site; answer its preview (nothing changes yet)."""
    most = current_app.config["SITE_IMPORT_MAX_BYTES"]
    if request.content_length is not None and request.content_length > most:
        return _error(413, f"The file is larger than the {most:,} bytes allowed.")
    request.max_content_length = most
    csrf.protect()
    site = _site(site_id)
    if site is None:
        return _error(403, NOT_YOURS)
    try:
        job = restorejobs.receive_upload(
            current_app.config,
            site.id,
            site.subdomain,
            current_user.id,
            request.stream,
            length=request.content_length,
            name=_upload_name(),
        )
    except uploads.UploadRefused as exc:
        return _error(_REFUSAL_STATUS.get(type(exc), 400), str(exc))
    return jsonify(restore_status(job)), 201


@bp.get("/sites/<int:site_id>/restore/<job_id>")
@open_during_site_maintenance
def restore_status_view(site_id, job_id):
    """Answer the state, progress and outcome of a restore job of this site."""
    site = _site(site_id)
    job = _job(site, job_id) if site else None
    if job is None:
        return _error(404, NO_SUCH_JOB)
    return jsonify(restore_status(job))


@bp.post("/sites/<int:site_id>/restore/<job_id>/confirm")
def confirm_restore(site_id, job_id):
    """Queue the restore of an uploaded export over this site."""
    site = _site(site_id)
    job = _job(site, job_id) if site else None
    if job is None:
        return _error(404, NO_SUCH_JOB)
    body = request.get_json(silent=True) or {}
    if job["other_site"]:
        if not current_user.is_global_admin:
            return _error(403, OTHER_SITE.format(subdomain=job["preview"]["subdomain"]))
        if body.get("confirm_other_site") is not True:
            return _error(409, "This export is of another site: confirm to restore it here.")
    try:
        job = restorejobs.confirm_job(current_app.config, job_id, allow_other_site=True)
    except restorejobs.JobStateError as exc:
        return _error(409, str(exc))
    return _queue(job)


@bp.post("/sites/<int:site_id>/restore/<job_id>/undo")
def undo_restore(site_id, job_id):
    """Queue a restore of the state this site had before restore ``job_id``."""
    site = _site(site_id)
    job = _job(site, job_id) if site else None
    if job is None:
        return _error(404, NO_SUCH_JOB)
    try:
        undo = restorejobs.request_undo(current_app.config, job_id, current_user.id, site.subdomain)
    except restorejobs.JobStateError as exc:
        return _error(409, str(exc))
    return _queue(undo)
