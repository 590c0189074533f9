"""Backup health for people and monitors: ``GET /healthz`` and the dashboard banner.

Both read ``app.backup.health.backup_health``, the same answer as
``flask backup status``. ``/healthz`` needs no login and tells an uptime
monitor only what it needs (no paths, no error texts, no site data); global
admins see the full reason in a banner on the admin dashboard.
"""

from flask import Blueprint, current_app, jsonify
from flask_login import current_user

from app.backup.health import backup_health, public_health

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """Answer the backup health as JSON: 200 when healthy, 503 when stale or failing."""
    health = public_health(backup_health(current_app.config))
    return jsonify(health), 200 if health["ok"] else 503, {"Cache-Control": "no-store"}


@bp.app_context_processor
def backup_alert_helper():
    """Give templates ``backup_alert()``: the problems a global admin must see, else None."""

    def backup_alert():
        if not (current_user.is_authenticated and current_user.is_global_admin):
            return None
        health = backup_health(current_app.config)
        return None if health["ok"] else health["problems"]

    return {"backup_alert": backup_alert}
