"""``GET /metrics`` for Prometheus, and the notification check the web process runs.

``/metrics`` answers only when ``METRICS_TOKEN`` is set and the request
carries ``Authorization: Bearer <token>`` (compared in constant time); anyone
else gets a plain 404, as if there were no such page. The gauges are
``app.backup.metrics``.

A dead worker must not silence the alarm: while requests come, the web
process also runs the notification check (``app.backup.notify``), in a
thread of its own, at most every ``NOTIFY_CHECK_INTERVAL``; the check's
record keeps it from running more often than that across processes too.
"""

import hmac
import threading
import time

from flask import Blueprint, Response, current_app, request

from app.backup import metrics as backup_metrics
from app.backup import notify
from app.extensions import db

bp = Blueprint("metrics", __name__)

WEB_CHECK = "notify_web_check"  # app.extensions: {"due": monotonic time, "thread": last thread}


def _authorized(token):
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@bp.get("/metrics")
def metrics():
    """Answer the gauges in the Prometheus text format, to the holder of METRICS_TOKEN only."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token or not _authorized(token):
        return Response("Not found.\n", 404, mimetype="text/plain")
    body, content_type = backup_metrics.render(current_app.config, db.engine)
    return Response(body, 200, content_type=content_type, headers={"Cache-Control": "no-store"})


def register_web_check(app):
    """Run the notification check in a thread, from a request, at most every check interval."""
    state = app.extensions.setdefault(WEB_CHECK, {"due": 0.0, "thread": None})
    guard = threading.Lock()

    def check_when_due():
        if not app.config.get("NOTIFY_URLS"):
            return
        now = time.monotonic()
        with guard:
            if now < state["due"]:
                return
            state["due"] = now + float(app.config["NOTIFY_CHECK_INTERVAL"])
        thread = threading.Thread(
            target=notify.safe_check,
            args=(app.config,),
            kwargs={"due_only": True},
            name="notify-check",
            daemon=True,
        )
        state["thread"] = thread
        thread.start()

    app.before_request(check_when_due)
