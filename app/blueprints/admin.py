"""The admin pages: the dashboard of the sites a user may manage."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app.extensions import db
from app.models import MediaItem, MenuItem, Page
from app.permissions import manageable_sites_query

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _counts(model, site_ids):
    """Return {site_id: number of rows of ``model``} for ``site_ids``."""
    rows = db.session.execute(
        select(model.site_id, func.count())
        .where(model.site_id.in_(site_ids))
        .group_by(model.site_id)
    )
    return dict(rows.all())


@bp.route("/")
@login_required
def dashboard():
    """List the sites the user may manage, with their page, menu and media counts."""
    sites = db.session.scalars(manageable_sites_query(current_user)).all()
    ids = [s.id for s in sites]
    counts = {
        name: _counts(model, ids)
        for name, model in (("pages", Page), ("menu", MenuItem), ("media", MediaItem))
    }
    return render_template("dashboard.html", sites=sites, counts=counts)


def register_root(app):
    """Send visitors of / to the dashboard, of /favicon.ico to the icon; style every 404."""
    app.add_url_rule("/", "index", lambda: redirect(url_for("admin.dashboard")))
    app.add_url_rule(
        "/favicon.ico", "favicon", lambda: redirect(url_for("static", filename="favicon.svg"))
    )
    app.register_error_handler(404, not_found)


def not_found(error):
    """Answer an unknown URL with the styled "Not found" page."""
    return render_template("not_found.html"), 404
