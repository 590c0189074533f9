"""The admin pages: the dashboard of the sites a user may manage."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.models.counts import site_counts
from app.permissions import manageable_sites_query

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@login_required
def dashboard():
    """List the sites the user may manage, with their page, menu and media counts."""
    sites = db.session.scalars(manageable_sites_query(current_user)).all()
    counts = site_counts(db.session, [s.id for s in sites])
    return render_template("dashboard.html", sites=sites, counts=counts)


def register_root(app):
    """Send visitors of / to the dashboard."""
    app.add_url_rule("/", "index", lambda: redirect(url_for("admin.dashboard")))
