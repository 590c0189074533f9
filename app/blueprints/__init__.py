"""The web: blueprints for auth, admin pages, exports, health and maintenance."""

from flask import request


def wants_json():
    """Return True when the client sent JSON or ranks JSON at least as high as HTML."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json"
