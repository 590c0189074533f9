"""Real Celery workers for the tests: in a thread of the test process, or as a subprocess.

``CeleryProcess`` is the one way the tests start ``celery worker`` or ``celery
beat`` as a process; its options cover the broker isolation a shared Redis
needs. ``REDIS_URL`` is the real Redis of the tests (``TEST_REDIS_URL``).
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import redis
from celery.contrib.testing.worker import start_worker

from app import get_celery
from tests.processes import clean_env, stop_group

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RESULT_TIMEOUT = 60  # seconds to wait for a task result before calling the wiring broken


@contextmanager
def thread_worker(celery_app, queues=None):
    """Run a real worker (solo pool) for ``celery_app`` in a thread."""
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
        queues=queues,
    ) as worker:
        yield worker


class CeleryProcess:
    """A ``celery worker`` or ``celery beat`` subprocess, in its own process group.

    It reads its settings from ``environ`` alone, like in production (the test
    runner's settings are left out), and runs outside the checkout, so a
    developer's .env there is not read. ``entry`` is the ``-A`` module:
    ``worker`` (production's) or ``tests.celery_app`` (production's plus the
    TEST_CELERY_PREFIX isolation). A worker with a ``queue`` consumes only that
    queue, which ``stop`` removes from Redis.
    """

    def __init__(self, log_path, environ, *, kind="worker", entry="worker", queue=None,
                 pool="solo", concurrency=1):  # fmt: skip
        self.log_path = Path(log_path)
        self.queue = queue
        self.kind = kind
        self.env = clean_env(**environ)
        self.command = [sys.executable, "-m", "celery", "-A", entry, kind, "--loglevel", "INFO"]
        if kind == "worker":
            hostname = queue or f"test-{uuid.uuid4().hex[:8]}"
            self.command += [
                "--pool", pool, "--concurrency", str(concurrency), "--without-gossip",
                "--without-mingle", "--hostname", f"{hostname}@%h",
            ]  # fmt: skip
            if queue:
                self.command += ["-Q", queue]
        self.process = None

    def start(self, timeout=60):
        """Start the process; a worker is waited for until it consumes its queue."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.log_path.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self.kind == "worker" and " ready." not in self.output():
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self):
        """Return what the process logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self):
        """Kill the process and its children at once, as a crash or an OOM kill would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        """Stop the process (a warm shutdown), kill what is left, and remove its queue."""
        if self.process is not None:
            stop_group(self.process, timeout=30)
        if self.queue:
            purge_queue(self.queue)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def app_environ(app):
    """Return the settings of a process serving ``app``: its data dir, database, broker..."""
    keys = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "EXPORT_STUCK_AFTER", "EXPORT_RETENTION")
    return {
        "STINKY_DATA_DIR": app.config["STINKY_DATA_DIR"],
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "BACKUP_KEY": app.config["BACKUP_KEY"],
        **{key: app.config[key] for key in keys},
    }


def app_worker(app, queue, log_path, **options):
    """Return (not started) a worker process of ``app`` consuming ``queue`` on the real Redis."""
    return CeleryProcess(log_path, app_environ(app), queue=queue, **options)


def wait_result(async_result, log_path=None):
    """Return the task's result, or fail with the worker's log when it does not come."""
    try:
        return async_result.get(timeout=RESULT_TIMEOUT)
    except Exception as exc:
        log = Path(log_path).read_text(errors="replace")[-4000:] if log_path else ""
        raise AssertionError(f"no result from the worker: {exc!r}\n{log}") from exc


# Isolation on the shared Redis: a queue of one's own...


def unique_queue():
    """Return a queue name no other test session uses."""
    return f"sk-test-{uuid.uuid4().hex[:12]}"


def redis_app_config():
    """Return the config overrides that put an app on the real Redis."""
    return {"CELERY_BROKER_URL": REDIS_URL, "CELERY_RESULT_BACKEND": REDIS_URL}


def use_queue(app, queue):
    """Make ``app`` send its tasks to ``queue``."""
    get_celery(app).conf.task_default_queue = queue


def purge_queue(queue):
    """Remove ``queue``, its bindings and its unacknowledged messages from Redis."""
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    # A killed worker leaves its message "unacked"; Redis would requeue it hours later.
    for tag, entry in client.hscan_iter("unacked"):
        with contextlib.suppress(ValueError, TypeError, IndexError):
            if json.loads(entry)[2] == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    client.close()


# ...or, for a worker and beat that must talk only to each other, a key prefix of one's own.


def new_prefix():
    """A queue name and key prefix of one test on the shared Redis."""
    return f"sk-sched-{uuid.uuid4().hex[:12]}"


def isolation_env(prefix):
    """Environment keeping a worker and beat apart on the shared Redis (see tests/celery_app.py)."""
    return {
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        "TEST_CELERY_PREFIX": prefix,
    }


def isolate(celery_app, prefix):
    """Give ``celery_app`` its own queue, routes and key prefix on the shared Redis."""
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


def forget_prefix(prefix):
    """Delete the keys a test left under ``prefix`` on the shared Redis (ours only)."""
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()
