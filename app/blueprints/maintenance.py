"""Answer 503 while a restore runs: to every request, or to those of the one site restored.

The flags live in ``app.coordination.maintenance``. A request is of a site when its
URL names the site (``site_id``) or one of its export jobs, or its form names it.
A view marked ``open_during_site_maintenance`` (the state of a restore job: it reads
the site's row and the job, and writes nothing) still answers while only its own site
is restored, so the page that started the restore can follow it to the end.
"""

from flask import jsonify, render_template, request

from app.blueprints import wants_json
from app.coordination import maintenance_state, sites_in_maintenance
from app.extensions import db
from app.models import ExportJob

RETRY_AFTER_SECONDS = 60


def open_during_site_maintenance(view):
    """Mark ``view`` as answering while its site alone is in maintenance."""
    view.open_during_site_maintenance = True
    return view


def register_maintenance(app):
    """Make ``app`` answer 503 (a short page, or JSON for JSON clients) during maintenance."""

    def refuse_during_maintenance():
        if request.endpoint == "static":
            return None
        state = maintenance_state(app.config)
        if state is None:
            sites = sites_in_maintenance(app.config)
            if not sites or _request_site_id() not in sites:
                return None
            view = app.view_functions.get(request.endpoint)
            if getattr(view, "open_during_site_maintenance", False):
                return None
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if wants_json():
            body = {"error": "maintenance", "message": "a backup is being restored; retry soon"}
            return jsonify(body), 503, headers
        return render_template("maintenance.html"), 503, headers

    # First of all hooks, so that a form post gets the 503 and not a CSRF error.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_during_maintenance)


def _request_site_id():
    """Return the id of the site a request is about, or None."""
    args = request.view_args or {}
    if "site_id" in args:
        return args["site_id"]
    if "job_id" in args and request.blueprint == "exports":
        job = db.session.get(ExportJob, args["job_id"])
        return job.site_id if job is not None else None
    if request.method == "POST":
        source = request.get_json(silent=True) if request.is_json else request.form
        try:
            return int((source or {}).get("site_id"))
        except (TypeError, ValueError):
            return None
    return None
