"""Helpers of the scheduling tests: broken configs, big media, real worker and beat processes."""

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path

from app import create_app
from app.config import Config
from tests.processes import clean_env, stop_group

REDIS_URL = "redis://127.0.0.1:6379/0"


def closed_port():
    """Return a local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_app(data_dir, **overrides):
    """An app on ``data_dir`` whose database is a server that is not there."""
    environ = {
        "STINKY_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret",
        "BACKUP_KEY": "test-backup-key",
        "DATABASE_URL": f"mysql+pymysql://root@127.0.0.1:{closed_port()}/gone",
    }
    return create_app(Config(environ=environ, TESTING=True, **overrides))


def add_big_media(site, megabytes, make):
    """Give ``site`` incompressible media of about ``megabytes`` MB, so a backup takes a moment."""
    chunk = 8
    for n in range(0, megabytes, chunk):
        make.media(site, content=os.urandom(chunk * 1024 * 1024), name=f"big-{n}.jpg")


def wait_for(predicate, timeout=60, interval=0.005, what="the condition"):
    """Return what ``predicate`` returns once it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def process_env(data_dir, **environ):
    """The environment of a worker, beat or ``flask`` process on ``data_dir`` (ours left out)."""
    return clean_env(
        STINKY_DATA_DIR=data_dir, SECRET_KEY="test-secret", BACKUP_KEY="test-backup-key", **environ
    )


def isolation_env(prefix):
    """Environment keeping a worker and beat apart on the shared Redis (see tests/celery_app.py)."""
    return {
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        "TEST_CELERY_PREFIX": prefix,
    }


def new_prefix():
    """A queue name and key prefix of one test on the shared Redis."""
    return f"sk-sched-{uuid.uuid4().hex[:12]}"


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
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


@contextmanager
def celery_process(kind, data_dir, log_path, environ, extra_args=()):
    """Run ``celery -A tests.celery_app worker|beat`` on ``data_dir``; stop its group after."""
    command = [sys.executable, "-m", "celery", "-A", "tests.celery_app", kind, "--loglevel", "INFO"]
    if kind == "worker":
        command += ["--pool", "prefork", "--concurrency", "1", "--without-mingle"]
        command += ["--without-gossip", "--hostname", f"sched-{uuid.uuid4().hex[:8]}@%h"]
    command += list(extra_args)
    with open(log_path, "ab") as log:
        # Started outside the checkout, so a developer's .env there is not read.
        proc = subprocess.Popen(
            command,
            cwd=data_dir.parent,
            env=process_env(data_dir, **environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_group(proc)


def flask_process(data_dir, *args, **environ):
    """Start ``flask --app app <args>`` on ``data_dir`` in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=data_dir.parent,
        env=process_env(data_dir, **environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def log_tail(path, chars=4000):
    """The end of a process log, for assertion messages."""
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


def remount(folder, options):
    """Change the mount options of the tmpfs on ``folder`` (e.g. "size=64m", "ro", "rw")."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def temp_archives(folder):
    """The archives being written in ``folder`` (non-empty temporaries)."""
    found = []
    for path in Path(folder).glob(".stinkykitty-*.tar.gz.tmp-*"):
        with suppress(FileNotFoundError):
            if not path.name.endswith("-text") and path.stat().st_size > 0:
                found.append(path)
    return found
