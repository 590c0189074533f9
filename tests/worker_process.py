"""Run a real Celery worker in a subprocess, on the real Redis, with a queue of its own."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis

from tests.processes import clean_env

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique_queue():
    """Return a queue name no other test session uses."""
    return f"sk-test-{uuid.uuid4().hex[:12]}"


def redis_app_config():
    """Return the config overrides that put an app on the real Redis."""
    return {"CELERY_BROKER_URL": REDIS_URL, "CELERY_RESULT_BACKEND": REDIS_URL}


def use_queue(app, queue):
    """Make ``app`` send its tasks to ``queue``."""
    app.extensions["celery"].conf.task_default_queue = queue


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


class WorkerProcess:
    """A ``celery worker`` subprocess for one app's data dir and database."""

    def __init__(self, app, queue, log_path, pool="solo", concurrency=1):
        self.queue = queue
        self.log_path = Path(log_path)
        env = clean_env(
            STINKY_DATA_DIR=app.config["STINKY_DATA_DIR"],
            DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
            SECRET_KEY=app.config["SECRET_KEY"],
            BACKUP_KEY=app.config["BACKUP_KEY"],
            CELERY_BROKER_URL=REDIS_URL,
            CELERY_RESULT_BACKEND=REDIS_URL,
            EXPORT_STUCK_AFTER=str(app.config["EXPORT_STUCK_AFTER"]),
            EXPORT_RETENTION=str(app.config["EXPORT_RETENTION"]),
        )
        self.command = [
            sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", queue,
            "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--hostname", f"{queue}@%h",
        ]  # fmt: skip
        self.env = env
        self.process = None

    def start(self, timeout=60):
        """Start the worker and wait until it consumes its queue."""
        self.log = open(self.log_path, "ab")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(
            self.command,
            cwd=self.log_path.parent,  # not the checkout: a developer's .env there is not read
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            if " ready." in self.output():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")

    def output(self):
        """Return what the worker logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self):
        """Kill the worker and its children at once, as a crash or an OOM kill would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        """Stop the worker and remove its queue from Redis."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        purge_queue(self.queue)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
