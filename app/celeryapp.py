"""The Celery app of a Flask app: made on first use, its tasks run inside the Flask app's context.

Kept apart from the factory (``app.create_app``) so that the ways in (views,
commands, the worker) reach it without importing the factory's package.
"""

import threading

_celery_lock = threading.Lock()  # two first requests in two threads make one Celery app


def get_celery(app):
    """Return the Celery app bound to ``app``, made on first use (see ``create_app``).

    Everything that sends or runs tasks asks here: the worker and beat
    (``worker.py``), the views that queue jobs, ``flask setup``.
    """
    with _celery_lock:
        if "celery" not in app.extensions:
            celery_init_app(app)
        return app.extensions["celery"]


def celery_init_app(app):
    """Create the Celery app bound to ``app`` (tasks run inside its app context)."""
    from celery import Celery, Task

    import celeryconfig

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celeryconfig.build(app.config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    # Not "import app.tasks": that would rebind the name `app` used by FlaskTask.
    from app import tasks  # noqa: F401  (register the tasks on this Celery app)

    return celery_app
