"""Backup health for people and monitors: ``GET /healthz`` and the dashboard banner.

Both are views of ``app.backup.status.backup_status``, the same answer as
``flask backup status``. ``/healthz`` needs no login and tells an uptime
monitor only what it needs (no paths, no error texts, no site data); global
admins see the full reason in a banner on the admin dashboard.
"""

from flask import Blueprint, current_app, jsonify
from flask_login import current_user

from app.backup import backup_status

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """Answer the backup health as JSON: 200 when healthy, 503 when stale or failing."""
    health = backup_status(current_app.config).public_dict()
    return jsonify(health), 200 if health["ok"] else 503, {"Cache-Control": "no-store"}


@bp.app_context_processor
def backup_alert_helper():
    """Give templates ``backup_alert()``: the status when a global admin must act, else None."""

    def backup_alert():
        if not (current_user.is_authenticated and current_user.is_global_admin):
            return None
        status = backup_status(current_app.config)
        return None if status.ok else status

    return {"backup_alert": backup_alert}
