"""Login and logout with Flask-Login and CSRF-protected forms."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email

from app.blueprints.backups import mark_global_admin
from app.extensions import db, login_manager
from app.models import User

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False)])
    password = PasswordField("Password", validators=[DataRequired()])


@login_manager.user_loader
def load_user(user_id):
    """Return the user of a session, or None."""
    return db.session.get(User, int(user_id))


login_manager.login_view = "auth.login"


def _safe_next(target):
    """Return ``target`` if it is a path on this site, else the dashboard."""
    # Browsers read "//host", "///host" and "/\\host" as another host and drop
    # tabs and newlines first: only a path with one leading slash stays here.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not any(c == "\\" or ord(c) < 0x20 for c in target)
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and log the user in."""
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(
            select(User).where(func.lower(User.email) == form.email.data.strip().lower())
        )
        if user and user.check_password(form.password.data):
            login_user(user)
            mark_global_admin(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong email or password.", "error")
        return render_template("login.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log the user out."""
    logout_user()
    return redirect(url_for("auth.login"))
