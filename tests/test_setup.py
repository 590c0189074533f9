"""``flask setup``: migrate, prepare the embedded broker, seed an empty database, once."""

import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app import create_app
from app.config import Config
from app.extensions import db
from app.models import Site, User
from tests.conftest import _reset_schema


@pytest.fixture
def fresh_app(tmp_path):
    """An app on a new data dir whose database has never been migrated."""
    app = create_app(Config(environ={"STINKY_DATA_DIR": str(tmp_path / "data")}, TESTING=True))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def tables(path):
    """Return the table names of the SQLite file at ``path``."""
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_setup_migrates_prepares_celery_and_seeds_the_demo(fresh_app, tmp_path):
    result = fresh_app.test_cli_runner().invoke(args=["setup"], env={"PORT": "5123"})
    assert result.exit_code == 0, result.output
    data = tmp_path / "data"
    assert set(db.metadata.tables) | {"alembic_version"} <= tables(data / "stinkykitty.db")
    assert {"kombu_queue", "kombu_message"} <= tables(data / "celery-broker.sqlite")
    assert {"celery_taskmeta", "celery_tasksetmeta"} <= tables(data / "celery-results.sqlite")
    assert "StinkyKitty admin: http://127.0.0.1:5123/login" in result.output
    assert "Demo logins (password for all: stinkykitty):" in result.output
    assert "owner1@example.org" in result.output
    with fresh_app.app_context():
        assert count(Site) == 3
        assert count(User) == 6


def test_setup_twice_seeds_once_and_still_prints_the_logins(fresh_app):
    runner = fresh_app.test_cli_runner()
    assert runner.invoke(args=["setup"]).exit_code == 0
    with fresh_app.app_context():
        before = (count(User), count(Site))
    again = runner.invoke(args=["setup"])
    assert again.exit_code == 0, again.output
    assert "seeding the demo" not in again.output
    assert "admin@example.org" in again.output
    assert "http://127.0.0.1:5000/login" in again.output
    with fresh_app.app_context():
        assert (count(User), count(Site)) == before


def test_setup_leaves_a_database_with_users_alone(fresh_app):
    runner = fresh_app.test_cli_runner()
    assert runner.invoke(args=["setup", "--no-demo"]).exit_code == 0
    with fresh_app.app_context():
        assert count(User) == 0
    created = runner.invoke(
        args=["user", "create", "--email", "ops@example.org", "--password", "x"]
    )
    assert created.exit_code == 0, created.output
    result = runner.invoke(args=["setup"])
    assert result.exit_code == 0
    assert "No demo logins" in result.output
    with fresh_app.app_context():
        assert count(User) == 1
        assert count(Site) == 0


@pytest.mark.integration
def test_setup_migrates_a_server_database(server_databases, tmp_path):
    url = server_databases("postgresql")
    _reset_schema(url)
    environ = {"STINKY_DATA_DIR": str(tmp_path / "pg"), "DATABASE_URL": url}
    app = create_app(Config(environ=environ, TESTING=True))
    engine = sa.create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        result = app.test_cli_runner().invoke(args=["setup", "--no-demo"])
        assert result.exit_code == 0, result.output
        created = set(sa.inspect(engine).get_table_names())
        assert set(db.metadata.tables) | {"alembic_version"} <= created
    finally:
        with app.app_context():
            db.engine.dispose()
        engine.dispose()
