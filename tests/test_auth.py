"""Login and logout: passwords, CSRF, redirects, and who reaches the dashboard."""

from urllib.parse import quote

import pytest

from tests.factories import PASSWORD
from tests.support.web import csrf_token, is_logged_in


def log_in(client, email, password, next_url=None, token=True):
    """Post the login form; return the response."""
    data = {"email": email, "password": password}
    if token:
        data["csrf_token"] = csrf_token(client)
    url = "/login" if next_url is None else f"/login?next={next_url}"
    return client.post(url, data=data)


def test_login_page_answers_with_a_form(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="password"' in page.get_data(as_text=True)


def test_right_password_logs_in_and_shows_the_dashboard(client, make):
    user = make.user(email="anna@example.org")
    response = log_in(client, "Anna@Example.org", PASSWORD)
    assert response.status_code == 302
    assert response.location == "/admin/"
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200
    assert user.email in dashboard.get_data(as_text=True)


def test_wrong_password_answers_401_and_does_not_log_in(client, make):
    make.user(email="anna@example.org")
    response = log_in(client, "anna@example.org", "not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert not is_logged_in(client)


def test_unknown_email_is_refused_like_a_wrong_password(client, make):
    make.user(email="anna@example.org")
    response = log_in(client, "nobody@example.org", PASSWORD)
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert not is_logged_in(client)


def test_login_without_csrf_token_answers_400(client, make):
    make.user(email="anna@example.org")
    response = log_in(client, "anna@example.org", PASSWORD, token=False)
    assert response.status_code == 400
    assert not is_logged_in(client)


def test_login_follows_a_next_path_on_this_site(client, make):
    make.user(email="anna@example.org")
    response = log_in(client, "anna@example.org", PASSWORD, next_url="/admin/%3Fsort%3Dtitle")
    assert response.location == "/admin/?sort=title"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_login_refuses_a_next_that_leaves_the_site(client, make, target):
    make.user(email="anna@example.org")
    response = log_in(client, "anna@example.org", PASSWORD, next_url=quote(target, safe=""))
    assert response.status_code == 302
    assert response.location == "/admin/"


def test_dashboard_requires_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")
    assert client.get("/").location == "/admin/"


def test_logout_needs_post(client, make, login_as):
    login_as(make.user())
    assert client.get("/logout").status_code == 405
    assert is_logged_in(client)


def test_logout_without_csrf_token_answers_400(client, make, login_as):
    login_as(make.user())
    assert client.post("/logout").status_code == 400
    assert is_logged_in(client)


def test_logout_with_csrf_token_logs_out(client, make, login_as):
    login_as(make.user())
    token = csrf_token(client, "/admin/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.location == "/login"
    assert not is_logged_in(client)


def test_passwords_are_hashed_with_scrypt_unless_the_config_says_otherwise(make_app, tmp_path):
    from app.config import Config
    from app.models import User

    assert Config(environ={"STINKY_DATA_DIR": str(tmp_path)}).PASSWORD_HASH_METHOD == "scrypt"
    for method, prefix in (("scrypt", "scrypt:"), ("pbkdf2:sha256:1", "pbkdf2:sha256:1$")):
        app = make_app(PASSWORD_HASH_METHOD=method)
        with app.app_context():
            user = User(email="anna@example.org")
            user.set_password(PASSWORD)
            assert user.password_hash.startswith(prefix)
            assert user.check_password(PASSWORD)
            assert not user.check_password(PASSWORD + "!")
