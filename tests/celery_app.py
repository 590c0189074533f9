"""Celery entry point of the tests' worker and beat processes: ``celery -A tests.celery_app``.

The same app as ``worker.py``, read from the environment, plus one thing the
shared Redis of a test machine needs: with TEST_CELERY_PREFIX set, every key,
the queue and the routes carry that prefix, so a test's worker and beat talk
only to each other.
"""

import os

from app import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]

prefix = os.environ.get("TEST_CELERY_PREFIX")
if prefix:
    options = {"global_keyprefix": f"{prefix}:"}
    celery_app.conf.update(
        task_default_queue=prefix,
        task_routes={"stinkykitty.*": {"queue": prefix}},
        broker_transport_options={**celery_app.conf.broker_transport_options, **options},
        result_backend_transport_options={
            **celery_app.conf.result_backend_transport_options,
            **options,
        },
        result_expires=600,
        # No remote control: its pidbox binding would go into a set shared by every worker.
        worker_enable_remote_control=False,
    )
