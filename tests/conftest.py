"""Shared fixtures: apps on SQLite (always) and on the real MariaDB and PostgreSQL servers."""

import os
import uuid

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app import create_app, init_migrations
from app.config import Config
from app.extensions import db as _db
from tests import factories

pytest_plugins = [
    "tests.s3kit",  # s3_server, s3_config: a real S3-compatible server
    "tests.notifykit",  # mail, hook: a real SMTP server and HTTP receiver on loopback
    "tests.support.browser",  # served, browser: the app over HTTP and a headless Chromium
    "tests.support.camps",  # backup_camp: two camps, their people and a backup
]

MARIADB_SERVER = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
POSTGRES_SERVER = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINES = ("sqlite", "mariadb", "postgresql")
# Scrypt costs about 0.1 s a hash: tests that are not about hashing take a cheap method.
CHEAP_PASSWORD_HASH = "pbkdf2:sha256:1"


class OwnContextClient(FlaskClient):
    """A test client whose every request gets an app context (and so a ``g``) of its own.

    The ``app`` fixture keeps an app context pushed; requests would share it, and
    Flask-Login's user cached in ``g`` would leak from one client to the next.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _throwaway_database(server_url, kind):
    """Create a uniquely named database on a server; return (url, drop)."""
    name = f"sk_test_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        if kind == "mariadb":
            conn.exec_driver_sql(
                f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        else:
            conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
    url = sa.engine.make_url(server_url).set(database=name)

    def drop():
        with server.connect() as conn:
            if kind == "postgresql":
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                )
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()

    return url.render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def server_databases():
    """Lazily create one throw-away database per server for this test session."""
    made, drops = {}, []

    def get(kind):
        if kind not in made:
            server_url = MARIADB_SERVER if kind == "mariadb" else POSTGRES_SERVER
            url, drop = _throwaway_database(server_url, kind)
            made[kind] = url
            drops.append(drop)
        return made[kind]

    yield get
    for drop in drops:
        drop()


def _reset_schema(url):
    """Drop every table (ours and Alembic's) so each test starts from an empty database."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        if engine.dialect.name in ("mysql", "mariadb"):
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        meta.drop_all(conn)
    engine.dispose()


@pytest.fixture
def make_app(tmp_path, server_databases):
    """Return a factory: ``make_app(engine, **config)`` -> a migrated app in a temp data dir."""
    apps = []

    def factory(engine="sqlite", data_dir=None, **overrides):
        data_dir = data_dir or tmp_path / f"data-{len(apps)}"
        environ = {
            "STINKY_DATA_DIR": str(data_dir),
            "SECRET_KEY": "test-secret",
            "BACKUP_KEY": "test-backup-key",
        }
        if engine != "sqlite":
            url = server_databases(engine)
            _reset_schema(url)
            environ["DATABASE_URL"] = url
        overrides = {"PASSWORD_HASH_METHOD": CHEAP_PASSWORD_HASH, **overrides}
        app = create_app(Config(environ=environ, TESTING=True, **overrides))
        app.test_client_class = OwnContextClient
        init_migrations(app)
        with app.app_context():
            upgrade()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def app(make_app):
    """A migrated app on SQLite in a temporary data dir, with its context pushed."""
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture(params=ENGINES)
def any_app(request, make_app):
    """The same app on SQLite, MariaDB and PostgreSQL in turn, with its context pushed."""
    app = make_app(request.param)
    with app.app_context():
        yield app


@pytest.fixture
def db(app):
    """The database extension, bound to ``app``."""
    return _db


@pytest.fixture
def client(app):
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner of ``app``."""
    return app.test_cli_runner()


@pytest.fixture
def login_as(client):
    """Log ``client`` in as a user without going through the form."""

    def login(user):
        with client.session_transaction() as session:
            session["_user_id"] = str(user.id)
            session["_fresh"] = True
        return client

    return login


@pytest.fixture
def make():
    """The model factories (see tests/factories.py)."""
    return factories


def pytest_collection_modifyitems(items):
    """Mark the tests that run on the MariaDB and PostgreSQL servers as integration tests."""
    for item in items:
        if "any_app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter):
    """Print the longest modules of app/: a signal to look for a seam, not a limit."""
    from tests.support.layout import SIZE_TO_READ_AGAIN, module_sizes

    long = [(n, path) for n, path in module_sizes() if n >= SIZE_TO_READ_AGAIN]
    if long:
        terminalreporter.write_sep("-", f"modules of app/ over {SIZE_TO_READ_AGAIN} lines")
        for n, path in long:
            terminalreporter.write_line(f"{n:5} {path}")
