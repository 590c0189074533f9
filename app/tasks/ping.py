"""A trivial task that proves the Celery wiring end to end."""

from celery import shared_task

from app.extensions import db


@shared_task(name="stinkykitty.ping")
def ping(value="pong"):
    """Return ``value`` and the database dialect, showing the task ran in the app context."""
    return {"value": value, "database": db.engine.dialect.name}
