"""Celery entry point of the tests' worker and beat processes: ``celery -A tests.celery_app``.

The same app as ``worker.py``, read from the environment, plus one thing the
shared Redis of a test machine needs: with TEST_CELERY_PREFIX set, the queue,
the routes and every key carry that prefix, so a test's worker and beat talk
only to each other.
"""

import os

from app import create_app
from tests.workers import isolate

flask_app = create_app()
celery_app = flask_app.extensions["celery"]

if os.environ.get("TEST_CELERY_PREFIX"):
    isolate(celery_app, os.environ["TEST_CELERY_PREFIX"])
