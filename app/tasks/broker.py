"""Periodic upkeep of the embedded broker."""

from celery import shared_task
from flask import current_app

from app.broker import sweep_consumed_messages


@shared_task(name="stinkykitty.sweep_broker")
def sweep_broker():
    """Delete the embedded broker's consumed messages and return how many went."""
    return {"deleted": sweep_consumed_messages(current_app.config["CELERY_BROKER_URL"])}


def broker_problem(celery_app, timeout=2.0):
    """Return why the broker cannot be reached (one line), or None when it answers."""
    try:
        with celery_app.connection_for_write(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None
