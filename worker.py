"""Celery entry point: ``celery -A worker worker`` and ``celery -A worker beat``."""

from app import create_app, get_celery

flask_app = create_app()
celery_app = get_celery(flask_app)
