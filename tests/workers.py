"""Real Celery workers for the tests: in a thread of the test process, or as a subprocess."""

import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from celery.contrib.testing.worker import start_worker

from tests.processes import clean_env, stop_group

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


@contextmanager
def process_worker(data_dir, log_path, environ=None):
    """Run ``celery -A worker worker`` on the embedded defaults of ``data_dir`` as a subprocess.

    The worker reads its settings from the environment like in production; the
    settings of the environment running the tests are left out.
    """
    env = clean_env(STINKY_DATA_DIR=data_dir, **(environ or {}))
    command = [sys.executable, "-m", "celery", "-A", "worker", "worker"]
    command += ["--concurrency", "1", "--loglevel", "INFO"]
    command += ["--hostname", f"test-{uuid.uuid4().hex[:8]}@%h"]
    with open(log_path, "wb") as log:
        # Not run from the checkout, so a developer's .env there is not read.
        proc = subprocess.Popen(
            command,
            cwd=data_dir.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_group(proc, timeout=30)


def wait_result(async_result, log_path=None):
    """Return the task's result, or fail with the worker's log when it does not come."""
    try:
        return async_result.get(timeout=RESULT_TIMEOUT)
    except Exception as exc:
        log = Path(log_path).read_text(errors="replace")[-4000:] if log_path else ""
        raise AssertionError(f"no result from the worker: {exc!r}\n{log}") from exc
