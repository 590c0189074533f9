"""The admin pages: the dashboard of the sites a user may manage."""

import re

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from app.extensions import db
from app.humanize import human_size, human_time
from app.models import site_counts
from app.permissions import manageable_sites_query

COMMAND = re.compile(r"`([^`]+)`")

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@login_required
def dashboard():
    """List the sites the user may manage, with their page, menu and media counts."""
    sites = db.session.scalars(manageable_sites_query(current_user)).all()
    counts = site_counts(db.session, [s.id for s in sites])
    return render_template("dashboard.html", sites=sites, counts=counts)


def register_root(app):
    """Send visitors of / to the dashboard, of /favicon.ico to the icon; style every 404."""
    app.add_url_rule("/", "index", lambda: redirect(url_for("admin.dashboard")))
    app.add_url_rule(
        "/favicon.ico", "favicon", lambda: redirect(url_for("static", filename="favicon.svg"))
    )
    app.register_error_handler(404, not_found)
    app.add_template_filter(human_time, "human_time")  # the one time format for people
    app.add_template_filter(human_size, "human_size")  # and size (IEC units, as export.js)
    app.add_template_filter(code_spans, "code_spans")


def code_spans(text):
    """Escape ``text``; show its `backticked` commands (as CLI messages write them) as code."""
    return Markup(COMMAND.sub(r"<code>\1</code>", str(escape(text))))


def not_found(error):
    """Answer an unknown URL with the styled "Not found" page."""
    return render_template("not_found.html"), 404
