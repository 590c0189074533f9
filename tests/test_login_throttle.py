"""A login that resists guessing: failures throttled per account and address, and per address.

No account oracle either.

Counters live in memory by default and in Redis when Redis is the broker; the
session cookie is Secure when the site is served over HTTPS.
"""

import uuid

import pytest

from app.models import user as user_module
from tests.factories import PASSWORD
from tests.support.web import csrf_token, is_logged_in

ACCOUNT_LIMIT = "3 per hour"
ADDRESS_LIMIT = "6 per hour"


@pytest.fixture
def throttled_app(make_app):
    """An app with small limits, so a few failures reach them."""
    app = make_app(
        LOGIN_FAILURES_PER_ACCOUNT=ACCOUNT_LIMIT, LOGIN_FAILURES_PER_ADDRESS=ADDRESS_LIMIT
    )
    with app.app_context():
        yield app


def attempt(app, email, password, address="198.51.100.7"):
    """Post the login form from ``address`` with a fresh client; return (response, client)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    data = {"email": email, "password": password, "csrf_token": csrf_token(client)}
    return client.post("/login", data=data), client


def test_failed_logins_of_one_account_are_throttled_from_that_address(throttled_app, make):
    app = throttled_app
    make.user(email="anna@example.org")
    for _ in range(3):
        response, _ = attempt(app, "anna@example.org", "guess", address="203.0.113.1")
        assert response.status_code == 401
    refused, client = attempt(app, "Anna@Example.org", PASSWORD, address="203.0.113.1")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many failed logins" in refused.get_data(as_text=True)
    assert not is_logged_in(client)  # even the right password waits, from there
    welcome, client = attempt(app, "anna@example.org", PASSWORD, address="203.0.113.99")
    assert welcome.status_code == 302  # the flood never locks the owner out from elsewhere
    assert is_logged_in(client)


def test_another_user_still_logs_in_while_an_account_is_throttled(throttled_app, make):
    app = throttled_app
    make.user(email="anna@example.org")
    make.user(email="bert@example.org")
    for _ in range(4):
        attempt(app, "anna@example.org", "guess", address="203.0.113.5")
    response, client = attempt(app, "bert@example.org", PASSWORD, address="192.0.2.10")
    assert response.status_code == 302
    assert is_logged_in(client)


def test_failed_logins_from_one_address_are_throttled_across_accounts(throttled_app, make):
    app = throttled_app
    make.user(email="bert@example.org")
    for n in range(6):
        response, _ = attempt(app, f"user{n}@example.org", "guess")
        assert response.status_code == 401
    refused, _ = attempt(app, "bert@example.org", PASSWORD)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    welcome, _ = attempt(app, "bert@example.org", PASSWORD, address="192.0.2.11")
    assert welcome.status_code == 302  # from elsewhere, the same account logs in


def test_successful_logins_do_not_count(throttled_app, make):
    app = throttled_app
    make.user(email="anna@example.org")
    for _ in range(5):
        response, _ = attempt(app, "anna@example.org", PASSWORD)
        assert response.status_code == 302


def test_an_unknown_email_costs_one_password_verification_like_a_wrong_password(
    app, make, monkeypatch
):
    make.user(email="anna@example.org")
    verified = []
    real = user_module.check_password_hash

    def counting(pwhash, password):
        verified.append(password)
        return real(pwhash, password)

    monkeypatch.setattr(user_module, "check_password_hash", counting)
    known, _ = attempt(app, "anna@example.org", "wrong one")
    unknown, _ = attempt(app, "nobody@example.org", "wrong two")
    assert known.status_code == unknown.status_code == 401
    assert known.get_data(as_text=True).count("Wrong email or password.") == 1
    assert unknown.get_data(as_text=True).count("Wrong email or password.") == 1
    assert verified == ["wrong one", "wrong two"]


def test_the_session_cookie_is_secure_when_served_over_https(make_app, make):
    app = make_app(SESSION_COOKIE_SECURE=True)
    with app.app_context():
        make.user(email="anna@example.org")
        response, _ = attempt(app, "anna@example.org", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_switch_reads_the_environment_and_compose_turns_it_on(tmp_path):
    from pathlib import Path

    from ruamel.yaml import YAML

    from app.config import Config

    assert Config(environ={"STINKY_DATA_DIR": str(tmp_path)}).SESSION_COOKIE_SECURE is False
    on = Config(environ={"STINKY_DATA_DIR": str(tmp_path), "SESSION_COOKIE_SECURE": "1"})
    assert on.SESSION_COOKIE_SECURE is True
    compose_file = Path(__file__).parent.parent / "docker-compose.yml"
    compose = YAML(typ="safe", pure=True).load(compose_file.read_text())
    assert compose["x-app-environment"]["SESSION_COOKIE_SECURE"] == "${SESSION_COOKIE_SECURE:-1}"
    assert compose["x-app-environment"]["TRUSTED_PROXIES"] == "${TRUSTED_PROXIES:-1}"
    assert Config(environ={"STINKY_DATA_DIR": str(tmp_path)}).TRUSTED_PROXIES == 0
    two = Config(environ={"STINKY_DATA_DIR": str(tmp_path), "TRUSTED_PROXIES": "2"})
    assert two.TRUSTED_PROXIES == 2


def test_plain_http_keeps_httponly_and_samesite(app, make):
    make.user(email="anna@example.org")
    response, _ = attempt(app, "anna@example.org", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.integration
def test_counters_live_in_redis_when_redis_is_the_broker(make_app, make):
    import redis

    from tests.workers import REDIS_URL, redis_app_config

    prefix = f"sk-test-{uuid.uuid4().hex[:12]}"
    settings = {**redis_app_config(), "RATELIMIT_KEY_PREFIX": prefix}
    first = make_app(LOGIN_FAILURES_PER_ACCOUNT=ACCOUNT_LIMIT, **settings)
    second = make_app(LOGIN_FAILURES_PER_ACCOUNT=ACCOUNT_LIMIT, **settings)
    assert first.config["RATELIMIT_STORAGE_URI"] == REDIS_URL
    try:
        with first.app_context():
            make.user(email="anna@example.org")
            for _ in range(3):
                assert attempt(first, "anna@example.org", "guess")[0].status_code == 401
        client = redis.Redis.from_url(REDIS_URL)
        counted = [k.decode() for k in client.scan_iter(match=f"*{prefix}*")]
        client.close()
        wanted = "login-account:12:198.51.100.7:anna@example.org/"
        assert any(wanted in key for key in counted), counted
        # Another web process (its own app, same Redis) sees the same count.
        with second.app_context():
            make.user(email="anna@example.org")
            assert attempt(second, "anna@example.org", PASSWORD)[0].status_code == 429
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
        client.close()
