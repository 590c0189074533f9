"""The web: blueprints for auth, admin pages, exports, health and maintenance."""

from flask import current_app, request


def wants_json():
    """Return True when the client sent JSON or ranks JSON at least as high as HTML."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json"


def current_celery():
    """Return the Celery app of the current Flask app, bound on first use (``get_celery``).

    Views queue tasks through it by name (``current_celery().tasks[name].delay(...)``),
    so the web process imports Celery only when it first sends a task.
    """
    from app.celeryapp import get_celery

    return get_celery(current_app._get_current_object())
