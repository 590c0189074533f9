"""Upkeep of the embedded Celery broker and result store (SQLite files in the data dir).

kombu's SQLAlchemy transport marks a delivered message ``visible = False`` and
never deletes it; nothing reads such a row again (a message that a worker gives
back is stored as a new row), so the table grows by one row per task until
``sweep_consumed_messages`` removes them. A beat entry does so every hour.
"""

import logging

import sqlalchemy as sa

import celeryconfig

log = logging.getLogger(__name__)

EMBEDDED_PREFIXES = ("sqla+", "sqlalchemy+")
MESSAGE_TABLE = "kombu_message"  # kombu's default `message_tablename`


def is_embedded_broker(broker_url):
    """Return True when ``broker_url`` names kombu's SQLAlchemy transport."""
    return broker_url.startswith(EMBEDDED_PREFIXES)


def _database_url(broker_url):
    for prefix in EMBEDDED_PREFIXES:
        if broker_url.startswith(prefix):
            return broker_url[len(prefix) :]
    raise ValueError(f"not an embedded (sqla+) broker URL: {broker_url}")


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


def prepare_celery_storage(celery_app):
    """Create the embedded broker's and the database result backend's tables, if used.

    Run once before the web, worker and beat processes start, so they do not
    race each other to create the same SQLite tables.
    """
    celeryconfig.prepare_embedded_broker(celery_app.conf.broker_url)
    from celery.backends.database import DatabaseBackend

    backend = celery_app.backend
    if isinstance(backend, DatabaseBackend):
        backend.ResultSession().close()  # opening a session creates the tables
