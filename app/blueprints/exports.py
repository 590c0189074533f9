"""Site admin page and "Download my site": request an export, poll it, download it.

Every route checks that the user may manage the site concerned. A site the user
may not manage and a site that does not exist look the same (403 for a request,
404 for a job or a page), so nothing hints at other sites.
"""

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from app.blueprints import current_celery, wants_json
from app.exports import InvalidDownloadLink, check_download_token, exports_dir, make_download_token
from app.exports import jobs as export_jobs
from app.exports import remote as remote_exports
from app.extensions import db, login_manager
from app.humanize import human_size
from app.models import ExportJob, Site, format_utc, site_counts
from app.permissions import can_manage_site, can_use_site_history

bp = Blueprint("exports", __name__, url_prefix="/admin")

RECENT_JOBS = 10
NOT_YOURS = "You may not export this site."
NO_SUCH_JOB = "No such export."
BAD_LINK = "This download link is not valid or has expired. Open the site's page for a new one."
NOT_QUEUED = "The export could not be queued. Try again in a minute."
EXPIRED = "This export has expired and its file was deleted. Start a new export."


def _error(status, message):
    return jsonify(error=message), status


@bp.before_request
def _require_login():
    """Send anonymous visitors to the login form, or a 401 JSON error to scripts."""
    if not current_user.is_authenticated:
        if wants_json():
            return _error(401, "Log in first.")
        return login_manager.unauthorized()
    return None


def _manageable_site(site_id):
    """Return the site if the current user may manage it, else None (missing or not theirs)."""
    site = db.session.get(Site, site_id)
    return site if can_manage_site(current_user, site) else None


def _visible_job(job_id):
    """Return the job if it belongs to a site the current user may manage, else None."""
    job = db.session.get(ExportJob, job_id)
    return job if job is not None and can_manage_site(current_user, job.site) else None


def job_status(job):
    """Return the JSON the status URL answers for ``job``, with a link for the current user."""
    status = {
        "job_id": job.id,
        "site_id": job.site_id,
        "state": job.state,
        "progress": {"done": job.progress_done or 0, "total": job.progress_total or 0},
        "error": job.error,
        "created_at": format_utc(job.created_at),
        "started_at": format_utc(job.started_at),
        "finished_at": format_utc(job.finished_at),
        "status_url": url_for("exports.export_status", job_id=job.id),
        "filename": job.filename,
        "size": job.size,
        "size_text": human_size(job.size) if job.size is not None else None,  # as the page says
        "sha256": job.sha256,
        "expired": job.state == "ready" and not job.filename,
        "download_url": None,
    }
    if job.state == "ready" and job.filename:
        token = make_download_token(
            current_app.config["SECRET_KEY"], job.id, current_user.id, job.filename
        )
        status["download_url"] = url_for("exports.download_export", job_id=job.id, token=token)
    return status


@bp.get("/sites/<int:site_id>")
def site_page(site_id):
    """Show a site's admin page: its contents, the export button and its recent exports."""
    site = _manageable_site(site_id)
    if site is None:
        return render_template("not_found.html"), 404
    counts = {
        name: rows.get(site.id, 0) for name, rows in site_counts(db.session, [site.id]).items()
    }
    jobs = db.session.scalars(
        select(ExportJob)
        .where(ExportJob.site_id == site.id)
        .order_by(ExportJob.id.desc())
        .limit(RECENT_JOBS)
    ).all()
    from app.blueprints.siteimport import restore_status
    from app.exports import restorejobs

    restore = restorejobs.latest_job(current_app.config, site.id)
    return render_template(
        "site.html",
        site=site,
        counts=counts,
        jobs=[job_status(j) for j in jobs],
        restore=restore_status(restore) if restore else None,
        import_max_bytes=current_app.config["SITE_IMPORT_MAX_BYTES"],
        history_url=url_for("sitehistory.history_page", site_id=site.id)
        if can_use_site_history(current_user, site)
        else None,
    )


def _requested_site_id():
    """Return the ``site_id`` of a form or JSON body as an int, or None."""
    source = request.get_json(silent=True) if request.is_json else request.form
    try:
        return int((source or {}).get("site_id"))
    except (TypeError, ValueError):
        return None


@bp.post("/export")
def request_export():
    """Queue an export of a site the user may manage, or answer with the one already running."""
    site_id = _requested_site_id()
    if site_id is None:
        return _error(400, "Say which site to export (site_id).")
    site = _manageable_site(site_id)
    if site is None:
        return _error(403, NOT_YOURS)
    try:
        job, created = export_jobs.request_export_job(
            db.session,
            site.id,
            current_user.id,
            stuck_after=current_app.config["EXPORT_STUCK_AFTER"],
        )
    except LookupError:  # the site was deleted a moment ago
        return _error(403, NOT_YOURS)
    if created:
        try:
            current_celery().tasks["stinkykitty.export_site"].delay(job.id)
        except Exception:  # broker down: say so, and do not leave a job that blocks the next click
            current_app.logger.exception("could not queue export job %s", job.id)
            export_jobs.fail_job(db.session, job.id, NOT_QUEUED)
            return _error(503, NOT_QUEUED)
    if wants_json():
        return jsonify(job_status(job)), 202
    flash("Your export has started." if created else "An export of this site is already running.")
    return redirect(url_for("exports.site_page", site_id=site.id), 303)


@bp.get("/export/<int:job_id>")
def export_status(job_id):
    """Answer the state and progress of an export, and its download link once ready."""
    job = _visible_job(job_id)
    if job is None:
        return _error(404, NO_SUCH_JOB)
    return jsonify(job_status(job))


@bp.get("/export/<int:job_id>/download")
def download_export(job_id):
    """Stream a finished export to the user the signed link was made for."""
    try:
        filename = check_download_token(
            current_app.config["SECRET_KEY"],
            request.args.get("token"),
            job_id=job_id,
            user_id=current_user.id,
            max_age=current_app.config["EXPORT_LINK_TTL"],
        )
    except InvalidDownloadLink:
        return _error(403, BAD_LINK)
    job = _visible_job(job_id)
    if job is None:
        return _error(404, NO_SUCH_JOB)
    if job.state != "ready" or job.filename != filename or "/" in filename:
        return _error(410, EXPIRED)
    if remote_exports.enabled(current_app.config):  # no shared disk: a short presigned redirect
        url = remote_exports.download_url(current_app.config, filename)
        return redirect(url, 302) if url else _error(410, EXPIRED)
    try:
        response = send_file(
            exports_dir(current_app.config) / filename,
            mimetype="application/gzip",
            as_attachment=True,
            download_name=filename,
            conditional=True,
            etag=job.sha256,
            max_age=0,
        )
    except FileNotFoundError:
        return _error(410, EXPIRED)
    response.headers["X-Checksum-SHA256"] = job.sha256
    response.headers["Cache-Control"] = "private, no-cache"
    return response
