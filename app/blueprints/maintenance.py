"""Answer 503 to every request while a restore runs (the flag lives in app.backup.maintenance)."""

from flask import jsonify, render_template, request

from app.backup.maintenance import maintenance_state
from app.blueprints import wants_json

RETRY_AFTER_SECONDS = 60


def register_maintenance(app):
    """Make ``app`` answer 503 (a short page, or JSON for JSON clients) during maintenance."""

    def refuse_during_maintenance():
        if request.endpoint == "static":
            return None
        state = maintenance_state(app.config)
        if state is None:
            return None
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if wants_json():
            body = {"error": "maintenance", "message": "a backup is being restored; retry soon"}
            return jsonify(body), 503, headers
        return render_template("maintenance.html"), 503, headers

    # First of all hooks, so that a form post gets the 503 and not a CSRF error.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_during_maintenance)
