"""Login and logout with Flask-Login and CSRF-protected forms.

Failed logins are throttled per account from one client address and per client
address (Flask-Limiter: only failures count, a refused attempt answers 429 with
Retry-After), so a flood of wrong passwords from one address never locks out
the right password from another. The client address is the peer, or what
``TRUSTED_PROXIES`` trusted proxies say it is (see ``app.trust_proxies``). An
unknown email costs a password verification like a known one, so neither the
answer nor its time tells which accounts exist.
"""

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_limiter import Limiter
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


def _client_address():
    return request.remote_addr or "?"


def _account_key():
    """Return the throttling key of the account a login names (known or not) and the address."""
    email = request.form.get("email", "").strip().lower()
    address = _client_address()
    return f"login-account:{len(address)}:{address}:{email}"  # the length: no two pairs alike


def _address_key():
    """Return the throttling key of the client address."""
    return "login-address:" + _client_address()


def _failed(response):
    return response.status_code == 401


_dummy_hash: list[User] = []


def _verify_nobody(password):
    """Spend a password verification on an unknown email, as a known one would."""
    if not _dummy_hash:
        nobody = User()
        nobody.set_password(secrets.token_hex(16))
        _dummy_hash.append(nobody)
    _dummy_hash[0].check_password(password)
    return False


def throttle_logins(app):
    """Limit failed logins per (account, address) and per address, with a Limiter of its own.

    Counters go to the broker's Redis when it is Redis, else to memory, unless
    RATELIMIT_STORAGE_URI says where.
    """
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        broker = app.config["CELERY_BROKER_URL"]
        app.config["RATELIMIT_STORAGE_URI"] = broker if broker.startswith("redis") else "memory://"
    limiter = Limiter(key_func=_address_key, app=app)
    view = app.view_functions["auth.login"]
    for setting, key in (
        ("LOGIN_FAILURES_PER_ACCOUNT", _account_key),
        ("LOGIN_FAILURES_PER_ADDRESS", _address_key),
    ):
        limit = limiter.limit(
            app.config[setting], key_func=key, methods=["POST"], deduct_when=_failed
        )
        view = limit(view)
    app.view_functions["auth.login"] = view


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and log the user in."""
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(
            select(User).where(func.lower(User.email) == form.email.data.strip().lower())
        )
        password = form.password.data
        if user.check_password(password) if user else _verify_nobody(password):
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
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.app_errorhandler(429)
def too_many_attempts(error):
    """Answer a throttled login with the form and when to try again (Retry-After)."""
    if request.endpoint == "backups.confirm_password":
        message = "Too many wrong passwords. Wait a moment, then try again."
        return render_template("backups_sudo.html", error=message), 429
    flash("Too many failed logins. Wait a moment, then try again.", "error")
    return render_template("login.html", form=LoginForm()), 429
