"""The backups page while the database is down: a global admin logged in before still sees it."""

import re

from app import create_app
from app.backup.runs import run_backup
from app.config import Config
from app.extensions import db
from tests.factories import PASSWORD
from tests.support.web import login

# Nothing listens here: connecting is refused, as by a stopped database server.
DOWN_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/stinkykitty"


def _log_in_with_the_form(app, user):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf}
    )
    assert response.status_code == 302
    return client


def _same_app_with_the_database_down(app):
    """Return the app as it runs once its database server stopped: same data dir, same key."""
    environ = {
        "STINKY_DATA_DIR": app.config["STINKY_DATA_DIR"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATABASE_URL": DOWN_DATABASE,
    }
    down = create_app(Config(environ=environ, TESTING=True))
    down.test_client_class = app.test_client_class
    return down


def _carry_session(client, other_app):
    """Return a client of ``other_app`` holding ``client``'s session cookie."""
    other = other_app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def test_the_page_answers_a_global_admin_while_the_database_is_down(app, make):
    admin = make.user(admin=True, email="root@camp.example")
    make.site(subdomain="lakeside")
    _, outcome = run_backup(app.config, db.engine, trigger="cli")
    logged_in = _log_in_with_the_form(app, admin)
    down_app = _same_app_with_the_database_down(app)
    client = _carry_session(logged_in, down_app)

    with down_app.app_context():
        response = client.get("/admin/backups")
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "The database is down" in html
        assert "Connection refused" in html or "connection" in html.lower()
        assert "Backups are healthy" in html
        assert f'data-backup="{outcome.backup_id}"' in html
        assert '<tr data-outcome="ok">' in html
        assert f"admin #{admin.id} (database down)" in html
        assert 'id="backup-now" disabled' in html

        refused = client.post(
            "/admin/backups/run",
            headers={"Accept": "application/json", "X-CSRFToken": _csrf(html)},
        )
        assert refused.status_code == 503
        assert "database is down" in refused.get_json()["error"]
        assert client.get("/admin/backups/confirm-password").status_code == 303


def _csrf(html):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_others_get_not_found_or_the_login_while_the_database_is_down(app, make):
    owner = make.user()
    make.site(owner=owner, subdomain="lakeside")
    logged_in = _log_in_with_the_form(app, owner)
    down_app = _same_app_with_the_database_down(app)
    with down_app.app_context():
        owner_client = _carry_session(logged_in, down_app)
        response = owner_client.get("/admin/backups")
        assert response.status_code == 404
        assert "<h1>Not found</h1>" in response.get_data(as_text=True)
        anonymous = down_app.test_client().get("/admin/backups")
        assert anonymous.status_code == 302
        assert "/login" in anonymous.headers["Location"]


def test_a_session_made_without_the_login_form_is_not_trusted_while_the_database_is_down(app, make):
    admin = make.user(admin=True)
    client, _ = login(app, admin)  # the session names the user, but no login recorded admin-ness
    with client.session_transaction() as session:
        session.pop("global_admin_id", None)
    down_app = _same_app_with_the_database_down(app)
    with down_app.app_context():
        assert _carry_session(client, down_app).get("/admin/backups").status_code == 404
