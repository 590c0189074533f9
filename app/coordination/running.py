"""Tasks that touch site data, registered while they run, so that a restore can pause them.

A worker task that reads or writes site data (exports, imports, backups,
sweeps) runs inside ``site_data_work``: it registers itself as a file in
``<data dir>/running-tasks/`` holding an ``flock`` (the kernel drops it when
the process dies, so a killed worker leaves no false entry), THEN looks at the
maintenance flag and, when a restore holds it, raises PausedForRestore (the
task is retried later). A restore sets the flag first, THEN waits for the
registered tasks to finish (``wait_for_tasks``): each side acts before it
looks, so no task slips through. Everything lives in the data dir, which every
web and worker process shares, so it works the same with any broker; hosts
that share no data dir (BACKUP_LOCK_URL) register in Redis instead, each entry
a lease that a dead process stops renewing (``app.coordination.redislock``).
"""

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
import uuid

from app.config import data_path
from app.coordination import redislock
from app.coordination.errors import PausedForRestore, TasksStillRunning
from app.coordination.maintenance import maintenance_state
from app.models import utcnow

log = logging.getLogger(__name__)

REGISTRY_NAME = "running-tasks"
DEFAULT_WAIT_SECONDS = 300
POLL_SECONDS = 0.2


def registry_dir(config):
    """Return the folder of the running tasks' entries."""
    return data_path(config, REGISTRY_NAME)


def _record(name, task_id, clock):
    return {
        "task": name,
        "task_id": task_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": clock().isoformat(timespec="seconds"),
    }


@contextlib.contextmanager
def site_data_work(config, name, task_id=None, *, clock=utcnow):
    """Register the task ``name`` as running; raise PausedForRestore while a restore runs."""
    if redislock.enabled(config):  # hosts without a shared data dir: a lease in Redis
        record = _record(name, task_id, clock)
        with redislock.registered(config, record):
            state = maintenance_state(config)  # only now: see the module docstring
            if state is not None:
                raise PausedForRestore(f"{name} paused: {state.get('reason', 'a restore runs')}")
            yield record
        return
    folder = registry_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.json"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record = _record(name, task_id, clock)
        os.write(fd, json.dumps(record).encode())
        state = maintenance_state(config)  # only now: see the module docstring
        if state is not None:
            raise PausedForRestore(f"{name} paused: {state.get('reason', 'a restore runs')}")
        yield record
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def running_tasks(config):
    """Return the records of the registered tasks still running (entries of dead ones go)."""
    if redislock.enabled(config):
        return redislock.registered_records(config)
    folder = registry_dir(config)
    if not folder.is_dir():
        return []
    running = []
    for path in sorted(folder.glob("*.json")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # finished meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    running.append(json.loads(os.pread(fd, 4096, 0) or b"{}"))
                except ValueError:
                    running.append({})
                continue
            path.unlink(missing_ok=True)  # nobody holds it: its process died
        finally:
            os.close(fd)
    return running


def describe_task(record):
    """Return a short phrase naming one running task."""
    return (
        f"{record.get('task', 'a task')} (id {record.get('task_id') or '?'}, pid "
        f"{record.get('pid', '?')} on {record.get('host', '?')}, since "
        f"{record.get('started_at', '?')} UTC)"
    )


def wait_for_tasks(config, *, timeout=None, progress=None, poll=POLL_SECONDS):
    """Wait until no registered task runs (call with the maintenance flag set).

    ``progress(done, total)`` counts the tasks that finished. Raises
    TasksStillRunning, listing them, when some still run after ``timeout``
    seconds (default: config RESTORE_WAIT_FOR_TASKS).
    """
    if timeout is None:
        timeout = float(config.get("RESTORE_WAIT_FOR_TASKS", DEFAULT_WAIT_SECONDS))
    deadline = time.monotonic() + timeout
    first = None
    while True:
        running = running_tasks(config)
        if first is None:
            first = len(running)
            if running:
                log.warning(
                    "waiting up to %g s for %d running task(s) to finish: %s",
                    timeout,
                    len(running),
                    "; ".join(describe_task(r) for r in running),
                )
        if progress and first:
            progress(max(first - len(running), 0), first)
        if not running:
            return
        if time.monotonic() >= deadline:
            raise TasksStillRunning(
                f"cannot restore: {len(running)} task(s) still running after {timeout:g} s: "
                f"{'; '.join(describe_task(r) for r in running)}; nothing was changed: try "
                "again when they have finished (or raise RESTORE_WAIT_FOR_TASKS)"
            )
        time.sleep(poll)
