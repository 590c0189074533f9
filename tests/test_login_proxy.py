"""Behind reverse proxies: the client's address is what the trusted hops say, never what it forges.

``TRUSTED_PROXIES`` hops each append the address of their peer to
X-Forwarded-For; the app takes the one written by the outermost trusted hop.
Login throttling keys on that address, so a flood of wrong passwords from one
client never locks out another behind the same proxy.
"""

import itertools

import pytest
from flask import request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app import create_app
from app.config import Config
from tests.factories import PASSWORD
from tests.support.web import csrf_token, is_logged_in

PROXY = "10.0.0.2"  # the peer of the web process: the proxy nearest to it
ACCOUNT_LIMIT = "3 per hour"
ADDRESS_LIMIT = "6 per hour"
USERS = ["anna@example.org", "bert@example.org"]
FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

# Header text a client may send: anything printable in latin-1, commas and spaces included.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
ADDRESSES = st.one_of(
    st.ip_addresses().map(str), st.sampled_from(["unknown", "", "_hidden", "::1"])
)


def _seen_by_app(make_app):
    """Return {hops: app} whose /_seen answers the address, scheme and host a request has."""
    apps = {}
    for hops in range(4):
        app = make_app(TRUSTED_PROXIES=hops)

        @app.get("/_seen")
        def seen():
            return {"addr": request.remote_addr, "scheme": request.scheme, "host": request.host}

        apps[hops] = app
    return apps


@pytest.fixture
def seen_apps(make_app):
    return _seen_by_app(make_app)


def _through_proxies(client_addr, forged, hops, proxies):
    """The environ a request reaches the app with after ``hops`` proxies appended their peers.

    The client sends ``forged`` as its own X-Forwarded-For (and a forged
    X-Forwarded-Proto and -Host); proxy 1 appends the client's address, proxy
    k the address of proxy k-1; the app's peer is the last proxy.
    """
    chain = [client_addr, *proxies[: hops - 1]] if hops else []
    values = [forged["for"], *chain] if forged["for"] is not None else chain
    environ = {"REMOTE_ADDR": proxies[hops - 1] if hops else client_addr}
    if values:
        environ["HTTP_X_FORWARDED_FOR"] = ", ".join(values)
    protos = [forged["proto"], *(["https"] * hops)] if forged["proto"] is not None else []
    hosts = [forged["host"], *(["camp.example.org"] * hops)] if forged["host"] is not None else []
    if hops and not protos:
        protos = ["https"] * hops
    if hops and not hosts:
        hosts = ["camp.example.org"] * hops
    if protos:
        environ["HTTP_X_FORWARDED_PROTO"] = ", ".join(protos)
    if hosts:
        environ["HTTP_X_FORWARDED_HOST"] = ", ".join(hosts)
    return environ


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURES)
@given(
    hops=st.integers(0, 3),
    client_addr=st.ip_addresses().map(str),
    forged=st.fixed_dictionaries(
        {
            "for": st.none() | HEADER_TEXT,
            "proto": st.none() | HEADER_TEXT,
            "host": st.none() | st.sampled_from(["evil.example", "a, b", ""]),
        }
    ),
    proxies=st.lists(st.ip_addresses().map(str), min_size=3, max_size=3),
)
@example(  # an open quote would swallow what the proxies append, were the header parsed as quoted
    hops=1,
    client_addr="192.0.2.1",
    forged={"for": '"', "proto": None, "host": None},
    proxies=["10.0.0.1", "10.0.0.2", "10.0.0.3"],
)
def test_the_address_is_the_one_the_trusted_hops_wrote_whatever_the_client_forges(
    seen_apps, hops, client_addr, forged, proxies
):
    app = seen_apps[hops]
    environ = _through_proxies(client_addr, forged, hops, proxies)
    answer = app.test_client().get("/_seen", environ_base=environ).get_json()
    assert answer["addr"] == client_addr
    if hops:
        assert answer["scheme"] == "https"
        assert answer["host"] == "camp.example.org"
    else:
        assert answer["scheme"] == "http"
        assert answer["host"] == "localhost"


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURES)
@given(hops=st.integers(0, 3), header=HEADER_TEXT, peer=ADDRESSES.filter(bool))
def test_with_fewer_hops_in_the_header_than_trusted_the_peer_is_the_client(
    seen_apps, hops, header, peer
):
    """A request that did not pass every trusted hop (or none) gets no say: its peer counts."""
    app = seen_apps[hops]
    values = header.split(",")
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": header}
    answer = app.test_client().get("/_seen", environ_base=environ).get_json()
    chosen = values[-hops].strip() if hops and header and len(values) >= hops else ""
    assert answer["addr"] == (chosen or peer)  # an empty entry says nothing either


def test_a_negative_hop_count_is_refused(tmp_path):
    config = Config(environ={"STINKY_DATA_DIR": str(tmp_path)}, TRUSTED_PROXIES=-1)
    with pytest.raises(ValueError, match="TRUSTED_PROXIES must be a whole number"):
        create_app(config)


def _login(app, email, password, environ):
    client = app.test_client()
    token = csrf_token(client)
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=data, environ_base=environ), client


@pytest.fixture
def behind_proxy(make_app, make):
    """An app behind one trusted proxy with small limits, and two users."""
    app = make_app(
        TRUSTED_PROXIES=1,
        LOGIN_FAILURES_PER_ACCOUNT=ACCOUNT_LIMIT,
        LOGIN_FAILURES_PER_ADDRESS=ADDRESS_LIMIT,
    )
    with app.app_context():
        make.user(email="anna@example.org")
        make.user(email="bert@example.org")
        yield app


_addresses = (f"198.51.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURES)
@given(
    flood=st.integers(1, 12),
    targets=st.lists(st.sampled_from([*USERS, "x@y.z"]), min_size=1, max_size=3),
    victim=st.sampled_from(USERS),
    forged=st.none() | HEADER_TEXT,
)
def test_a_flood_from_one_address_never_blocks_the_right_password_from_another(
    behind_proxy, flood, targets, victim, forged
):
    app = behind_proxy
    attacker, owner = next(_addresses), next(_addresses)
    statuses = set()
    for n in range(flood):
        header = attacker if forged is None else f"{forged}, {attacker}"
        environ = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": header}
        response, _ = _login(app, targets[n % len(targets)], "guess", environ)
        statuses.add(response.status_code)
    assert statuses <= {401, 429}
    if flood > 6:
        assert 429 in statuses  # the attacker is throttled
    welcome, client = _login(
        app, victim, PASSWORD, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": owner}
    )
    assert welcome.status_code == 302
    assert is_logged_in(client)


def test_without_trusted_proxies_a_forged_header_is_ignored(make_app, make):
    app = make_app(
        LOGIN_FAILURES_PER_ACCOUNT=ACCOUNT_LIMIT, LOGIN_FAILURES_PER_ADDRESS=ADDRESS_LIMIT
    )
    with app.app_context():
        make.user(email="anna@example.org")
        for n in range(6):  # a new forged address each time: still one peer
            forged = {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": f"192.0.2.{n}"}
            assert _login(app, f"u{n}@example.org", "guess", forged)[0].status_code == 401
        forged = {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "192.0.2.200"}
        assert _login(app, "anna@example.org", PASSWORD, forged)[0].status_code == 429
        elsewhere = {"REMOTE_ADDR": "203.0.113.6"}
        assert _login(app, "anna@example.org", PASSWORD, elsewhere)[0].status_code == 302
