"""Periodic removal of deleted media files once no backup can need them."""

from celery import shared_task
from flask import current_app

from app.coordination import sweep_trash
from app.tasks.pause import pauses_for_restore


@shared_task(name="stinkykitty.sweep_media_trash", bind=True)
@pauses_for_restore
def sweep_media_trash(self):
    """Delete trashed media past their grace period; return how many went (None: a backup ran)."""
    return {"deleted": sweep_trash(current_app.config)}
