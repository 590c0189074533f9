"""The backups page for global admins: health, kept backups, runs, back up now, verify,
download (after a password confirmation) and roll back one site.

Everyone but a global admin gets the styled 404. The page reads the data dir
(``backup_status``, the jobs of ``app.backup.webjobs``), so it answers while
the database and the broker are down, and says which is down. Logging in needs
the database, and so does knowing who is a global admin: when the database is
down, a session whose login (while it was up) recorded its user as a global
admin (``ADMIN_MARK``, in the signed session cookie) still sees the page,
read-only; every action needs the database and a freshly checked user.
"""

import time

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_login import AnonymousUserMixin, UserMixin, current_user

from app.backup import (
    ArchiveError,
    BackupError,
    InvalidBackupLink,
    backup_path,
    backup_status,
    check_backup_token,
    file_checksum,
    live_site,
    make_backup_token,
    normalize_id,
    notify,
    read_info,
    sites_in_backup,
    webjobs,
)
from app.blueprints import current_celery, wants_json
from app.blueprints.backupviews import backup_rows, job_status
from app.coordination import lock_holder
from app.extensions import db, login_manager
from app.humanize import human_age, human_ago, human_size, human_time

bp = Blueprint("backups", __name__, url_prefix="/admin/backups")

ADMIN_MARK = "global_admin_id"  # set at login; see the module docstring
SUDO_KEY = "backups_sudo"  # (user id, until) of the last password confirmation
RECENT_RUNS = 20
NOT_QUEUED = "The job could not be queued (the broker is down). Try again when it is back."
DB_DOWN = "The database is down: this needs it. The page shows what the data dir holds."


class OfflineAdmin(UserMixin):
    """The global admin of a session, known from its cookie alone while the database is down."""

    is_global_admin = True

    def __init__(self, user_id):
        self.id = int(user_id)
        self.email = f"admin #{self.id} (database down)"


@bp.context_processor
def _formatters():
    return {"human_age": human_age, "human_ago": human_ago, "human_size": human_size}


def mark_global_admin(user):
    """Remember in the session whether ``user`` (just logged in) is a global admin."""
    if user.is_global_admin:
        session[ADMIN_MARK] = str(user.id)
    else:
        session.pop(ADMIN_MARK, None)


def _sudo_key():
    return "password-confirmation:" + str(session.get("_user_id"))


def throttle_password_confirmations(app):
    """Limit wrong passwords at the download confirmation per admin, as failed logins are."""
    from flask_limiter import Limiter

    limiter = Limiter(key_func=_sudo_key, app=app)
    endpoint = "backups.confirm_password"
    app.view_functions[endpoint] = limiter.limit(
        app.config["LOGIN_FAILURES_PER_ACCOUNT"],
        key_func=_sudo_key,
        methods=["POST"],
        deduct_when=lambda response: response.status_code == 401,
    )(app.view_functions[endpoint])


def _not_found():
    if wants_json():
        return jsonify(error="Not found."), 404
    return render_template("not_found.html"), 404


@bp.before_request
def _only_global_admins():
    """Let global admins in (from the cookie when the database is down); 404 everyone else."""
    g.database_down = None
    try:
        authenticated = current_user.is_authenticated
        is_admin = authenticated and current_user.is_global_admin
    except sa_exc.SQLAlchemyError as exc:
        db.session.remove()
        g.database_down = str(getattr(exc, "orig", exc)).splitlines()[0]
        user_id = session.get("_user_id")
        if user_id and session.get(ADMIN_MARK) == user_id:
            g._login_user = OfflineAdmin(user_id)
            return None
        g._login_user = AnonymousUserMixin()
        return _not_found()
    if not authenticated:
        if wants_json():
            return jsonify(error="Log in first."), 401
        return login_manager.unauthorized()
    if not is_admin:
        session.pop(ADMIN_MARK, None)
        return _not_found()
    if session.get(ADMIN_MARK) != str(current_user.id):
        session[ADMIN_MARK] = str(current_user.id)
    return None


def _database_problem():
    if g.database_down:
        return g.database_down
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa_exc.SQLAlchemyError as exc:
        return str(getattr(exc, "orig", exc)).splitlines()[0]
    return None


def _sudo_left():
    """Return the seconds left of the admin's password confirmation (0: none)."""
    user_id, until = session.get(SUDO_KEY) or (None, 0)
    if user_id != current_user.id:
        return 0
    return max(0, int(until - time.time()))


@bp.get("")
def page():
    """Show the health verdict, the kept backups, the last runs and the page's jobs."""
    config = current_app.config
    status = backup_status(config)
    jobs = webjobs.list_jobs(config)
    database = _database_problem()
    sudo = _sudo_left() if not database else 0
    rows = backup_rows(config, status, jobs)
    if sudo:
        for row in rows:
            if row["ok"]:
                token = make_backup_token(
                    config["SECRET_KEY"], current_user.id, row["id"], row["size"]
                )
                row["download_url"] = url_for("backups.download", backup_id=row["id"], token=token)
    return render_template(
        "backups.html",
        status=status,
        rows=rows,
        runs=status.runs[:RECENT_RUNS],
        jobs=[job_status(j) for j in jobs[:5]],
        active=any(j["state"] in webjobs.ACTIVE for j in jobs),
        database_problem=database,
        broker_problem=_broker_problem(),
        sudo_left=sudo,
        notifications=notify.overview(config),
    )


def _broker_problem():
    """Return why the broker cannot be reached, or None (``app.tasks.broker.broker_problem``)."""
    from app.tasks.broker import broker_problem  # here: app.tasks imports Celery

    return broker_problem(current_celery())


def _answer(job, created, already):
    """Answer a queued (or already running) job: JSON for the script, a redirect for a form."""
    if created:
        try:
            current_celery().tasks["stinkykitty.backups_page_job"].delay(job["id"])
        except Exception:  # broker down: say so, and leave no job that looks queued
            current_app.logger.exception("could not queue backups page job %s", job["id"])
            webjobs.fail_job(current_app.config, job["id"], NOT_QUEUED)
            if wants_json():
                return jsonify(error=NOT_QUEUED), 503
            flash(NOT_QUEUED, "error")
            return redirect(url_for("backups.page"), 303)
    if wants_json():
        return jsonify({**job_status(job), "already_running": not created}), 202
    flash(already if not created else "Started: this page follows it below.")
    return redirect(url_for("backups.page"), 303)


def _needs_database():
    if g.database_down:
        if wants_json():
            return jsonify(error=DB_DOWN), 503
        flash(DB_DOWN, "error")
        return redirect(url_for("backups.page"), 303)
    return None


@bp.post("/run")
def back_up_now():
    """Queue a backup (trigger "web"), or show the one already running."""
    if refused := _needs_database():
        return refused
    config = current_app.config
    job = webjobs.active_job(config, "backup")
    if job is not None:
        return _answer(job, False, "A backup is already running: here it is.")
    holder = lock_holder(config)
    if holder and holder.get("operation") == "backup":  # the nightly one, or the CLI's
        message = (
            f"A backup is running now (since {human_time(holder.get('started_at'))}, pid "
            f"{holder.get('pid')}): the page shows it under Running now and in Recent runs."
        )
        if wants_json():
            return jsonify(error=message, running=holder), 409
        flash(message)
        return redirect(url_for("backups.page"), 303)
    return _answer(webjobs.new_job(config, "backup", current_user.id), True, None)


@bp.post("/<backup_id>/verify")
def verify(backup_id):
    """Queue a full check of one backup, or show the one already running for it."""
    if refused := _needs_database():
        return refused
    config = current_app.config
    try:
        backup_id = normalize_id(backup_id)
        job = webjobs.active_job(config, "verify", backup_id)
        if job is not None:
            return _answer(job, False, f"Backup {backup_id} is being verified already.")
        job = webjobs.new_job(config, "verify", current_user.id, backup_id=backup_id)
    except (BackupError, ArchiveError):
        return _not_found()
    return _answer(job, True, None)


@bp.post("/notify-test")
def notify_test():
    """Send the test notification to every URL of NOTIFY_URLS; say per URL whether it arrived."""
    if refused := _needs_database():
        return refused
    deliveries = notify.send_test(current_app.config)
    if wants_json():
        return jsonify(deliveries=[d.to_dict() for d in deliveries]), 200
    if not deliveries:
        flash("NOTIFY_URLS is not set: there is nowhere to send a test.", "error")
    for d in deliveries:
        if d.ok:
            flash(f"Test notification delivered to {d.url}.")
        else:
            flash(f"Test notification NOT delivered to {d.url}: {d.error}", "error")
    return redirect(url_for("backups.page", _anchor="notifications"), 303)


@bp.get("/jobs/<job_id>")
def job(job_id):
    """Answer the state, progress and outcome of one of the page's jobs."""
    found = webjobs.read_job(current_app.config, job_id)
    if found is None:
        return jsonify(error="No such job."), 404
    return jsonify(job_status(found))


@bp.route("/confirm-password", methods=["GET", "POST"])
def confirm_password():
    """Ask for the admin's password; when right, offer downloads for BACKUP_SUDO_TTL seconds."""
    if refused := _needs_database():
        return refused
    if request.method == "POST":  # CSRFProtect has checked the form's token
        if current_user.check_password(request.form.get("password", "")):
            until = time.time() + current_app.config["BACKUP_SUDO_TTL"]
            session[SUDO_KEY] = (current_user.id, until)
            return redirect(url_for("backups.page"), 303)
        return render_template("backups_sudo.html", error="Wrong password."), 401
    return render_template("backups_sudo.html", error=None)


@bp.get("/<backup_id>/download")
def download(backup_id):
    """Stream a backup to the admin the signed link was made for."""
    config = current_app.config
    try:
        path = backup_path(config, backup_id)
        backup_id = normalize_id(backup_id)
        check_backup_token(
            config["SECRET_KEY"],
            request.args.get("token"),
            user_id=current_user.id,
            backup_id=backup_id,
            size=path.stat().st_size,
            max_age=config["BACKUP_LINK_TTL"],
        )
        checksum = file_checksum(config, backup_id)
    except InvalidBackupLink:
        return jsonify(
            error="This download link is not valid or has expired; confirm your password again."
        ), 403
    except (BackupError, ArchiveError, FileNotFoundError):
        return _not_found()
    response = send_file(
        path,
        mimetype="application/gzip",
        as_attachment=True,
        download_name=path.name,
        conditional=True,
        etag=checksum,
        max_age=0,
    )
    response.headers["X-Checksum-SHA256"] = checksum
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<backup_id>/sites")
def sites(backup_id):
    """Pick a site of a backup to roll back; with ?site=, compare it with now and confirm."""
    config = current_app.config
    try:
        info = read_info(backup_path(config, backup_id))
        held = sites_in_backup(config, info.backup_id) if info.ok else {}
    except (BackupError, ArchiveError):
        return _not_found()
    chosen = request.args.get("site")
    then = held.get(chosen) if chosen else None
    now = None
    if then is not None and not g.database_down:
        now = live_site(db.session, chosen)
    return render_template(
        "backups_sites.html",
        info=info,
        held=held,
        chosen=chosen if then else None,
        then=then,
        now=now,
        database_problem=g.database_down,
    )


@bp.post("/<backup_id>/rollback")
def rollback(backup_id):
    """Queue the roll-back of one site to its state in a backup, once its subdomain is typed."""
    if refused := _needs_database():
        return refused
    config = current_app.config
    source = request.get_json(silent=True) if request.is_json else request.form
    subdomain = str((source or {}).get("site", "")).strip().lower()
    typed = str((source or {}).get("confirm", "")).strip().lower()
    try:
        info = read_info(backup_path(config, backup_id))
        held = sites_in_backup(config, info.backup_id) if info.ok else {}
    except (BackupError, ArchiveError):
        return _not_found()
    if subdomain not in held:
        message = f"Backup {info.backup_id} holds no site {subdomain!r}."
        return (jsonify(error=message), 400) if wants_json() else (_flash_back(message, info))
    if typed != subdomain:
        message = f"Type {subdomain} to confirm; nothing was changed."
        if wants_json():
            return jsonify(error=message), 400
        return _flash_back(message, info, subdomain)
    job = webjobs.active_job(config, "rollback")
    if job is not None:
        return _answer(job, False, "A site roll-back is running already: here it is.")
    job = webjobs.new_job(
        config, "rollback", current_user.id, backup_id=info.backup_id, subdomain=subdomain
    )
    return _answer(job, True, None)


def _flash_back(message, info, subdomain=None):
    flash(message, "error")
    return redirect(url_for("backups.sites", backup_id=info.backup_id, site=subdomain), 303)
