"""Periodic upkeep of the embedded broker."""

from celery import shared_task
from flask import current_app

from app.broker import sweep_consumed_messages


@shared_task(name="stinkykitty.sweep_broker")
def sweep_broker():
    """Delete the embedded broker's consumed messages and return how many went."""
    return {"deleted": sweep_consumed_messages(current_app.config["CELERY_BROKER_URL"])}
