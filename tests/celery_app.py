"""Celery entry point of the tests' worker and beat processes: ``celery -A tests.celery_app``.

The same app as ``worker.py``, read from the environment, plus two things only
tests need: with TEST_CELERY_PREFIX set, the queue, the routes and every key
carry that prefix, so a test's worker and beat on the shared Redis of a test
machine talk only to each other; with BACKUP_INTERVAL_SECONDS set, beat sends
the system backup every that many seconds instead of at BACKUP_SCHEDULE.
"""

import os

from app import create_app, get_celery
from tests.schedulekit import backup_every
from tests.workers import isolate

flask_app = create_app()
celery_app = get_celery(flask_app)

if os.environ.get("TEST_CELERY_PREFIX"):
    isolate(celery_app, os.environ["TEST_CELERY_PREFIX"])
if os.environ.get("BACKUP_INTERVAL_SECONDS"):
    backup_every(celery_app.conf, float(os.environ["BACKUP_INTERVAL_SECONDS"]))
