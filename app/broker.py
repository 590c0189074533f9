"""The embedded Celery broker and result store: SQLite files in the data dir, no server needed.

Everything about them is here: the default URLs (``app.config``), how an
embedded broker is recognised (``is_embedded_broker``, the one test), the
settings and the beat entry it needs (``celeryconfig`` asks for them), the
tables it needs before several processes start (``flask setup``), and the
hourly sweep of its used messages.

kombu's SQLAlchemy transport marks a delivered message ``visible = False`` and
never deletes it; nothing reads such a row again (a message that a worker gives
back is stored as a new row), so the table grows by one row per task until
``sweep_consumed_messages`` removes them.
"""

import logging
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger(__name__)

# kombu's names for its SQLAlchemy transport: "sqla+<database url>" or "sqlalchemy+...".
EMBEDDED_PREFIXES = ("sqla+", "sqlalchemy+")
MESSAGE_TABLE = "kombu_message"  # kombu's default `message_tablename`
POLLING_INTERVAL = 0.1  # seconds between polls of the SQLite broker
SWEEP_INTERVAL = 3600.0  # seconds between sweeps of the used messages


def default_broker_url(data_dir):
    """Return the embedded broker's URL for ``data_dir``: kombu's SQLAlchemy transport on SQLite."""
    return f"sqla+sqlite:///{Path(data_dir) / 'celery-broker.sqlite'}"


def default_result_backend(data_dir):
    """Return the embedded result store's URL for ``data_dir``: Celery's database backend."""
    return f"db+sqlite:///{Path(data_dir) / 'celery-results.sqlite'}"


def is_embedded_broker(broker_url):
    """Return True when ``broker_url`` names kombu's SQLAlchemy transport."""
    return broker_url.startswith(EMBEDDED_PREFIXES)


def _database_url(broker_url):
    for prefix in EMBEDDED_PREFIXES:
        if broker_url.startswith(prefix):
            return broker_url[len(prefix) :]
    raise ValueError(f"not an embedded (sqla+) broker URL: {broker_url}")


def beat_entries(broker_url):
    """Return the beat entries the broker needs: an hourly sweep when it is the embedded one."""
    if not is_embedded_broker(broker_url):
        return {}
    return {
        "sweep-embedded-broker": {"task": "stinkykitty.sweep_broker", "schedule": SWEEP_INTERVAL}
    }


def use_embedded_broker(broker_url):
    """Make kombu's SQLAlchemy transport poll quickly, when ``broker_url`` is the embedded broker.

    It must be a class attribute: kombu passes transport options straight to
    ``create_engine``, which rejects ``polling_interval``.
    """
    if not is_embedded_broker(broker_url):
        return
    from kombu.transport.sqlalchemy import Transport

    Transport.polling_interval = POLLING_INTERVAL


def prepare_embedded_broker(broker_url):
    """Create the SQLite broker's tables once, before several processes race to."""
    if not is_embedded_broker(broker_url):
        return
    from kombu import Connection

    with Connection(broker_url) as conn:
        conn.default_channel.session  # noqa: B018  (opening the channel creates the tables)


def prepare_celery_storage(celery_app):
    """Create the embedded broker's and the database result backend's tables, if used.

    Run once before the web, worker and beat processes start, so they do not
    race each other to create the same SQLite tables.
    """
    prepare_embedded_broker(celery_app.conf.broker_url)
    from celery.backends.database import DatabaseBackend

    backend = celery_app.backend
    if isinstance(backend, DatabaseBackend):
        backend.ResultSession().close()  # opening a session creates the tables


def sweep_consumed_messages(broker_url, table=MESSAGE_TABLE):
    """Delete the messages the embedded broker has already delivered; return how many."""
    url = sa.engine.make_url(_database_url(broker_url))
    connect_args = {"timeout": 30} if url.get_backend_name() == "sqlite" else {}
    engine = sa.create_engine(url, connect_args=connect_args)
    try:
        if not sa.inspect(engine).has_table(table):
            return 0
        messages = sa.table(table, sa.column("visible", sa.Boolean))
        with engine.begin() as conn:
            deleted = conn.execute(sa.delete(messages).where(messages.c.visible.is_(False)))
        log.info("swept %d consumed messages from the embedded broker", deleted.rowcount)
        return deleted.rowcount
    finally:
        engine.dispose()
