"""One backup or restore at a time, across processes and hosts' worth of workers on one disk.

The lock is an ``flock`` on ``<data dir>/backup.lock``. The kernel releases it
when the holding process exits, however it exits, so a crashed backup never
holds it forever. While held, the file records who holds it (operation, pid,
host, start time) so that a refused caller can say what is running.

Hosts that share no data dir set BACKUP_LOCK_URL: the same lock and holder
record then live in Redis as a lease renewed by a heartbeat (``app.coordination.redislock``).
"""

import contextlib
import fcntl
import json
import os
import socket
import time

from app.config import data_path
from app.coordination import redislock
from app.coordination.errors import BackupLocked
from app.humanize import human_time
from app.models import utcnow

LOCK_NAME = "backup.lock"
# A status probe may hold the lock for a few microseconds (see lock_holder);
# a starting operation retries that long before it calls the lock taken.
GRACE_SECONDS = 1.0
POLL_SECONDS = 0.05


def lock_path(config):
    """Return the path of the lock file."""
    return data_path(config, LOCK_NAME)


def _open(config):
    path = lock_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _read_record(fd):
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}


def _since(started_at):
    try:
        return human_time(started_at)
    except (TypeError, ValueError):  # a lock file from another version, or damaged
        return f"{started_at or '?'} UTC"


def describe_holder(holder):
    """Return a short phrase naming what holds the lock."""
    if not holder:
        return "another backup or restore is running"
    return (
        f"a {holder.get('operation', 'backup')} is running "
        f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"since {_since(holder.get('started_at'))})"
    )


def backup_lock(config, operation, *, wait=0.0, clock=utcnow):
    """Hold the backup lock for ``operation`` ("backup", "restore", ...) or raise BackupLocked.

    ``wait`` is how many seconds to keep trying (0: give up almost at once).
    Yields the holder record written into the lock file (or Redis, see
    ``app.coordination.redislock``, when BACKUP_LOCK_URL is set).
    """
    if redislock.enabled(config):
        return _shared_lock(config, operation, wait, clock)
    return _file_lock(config, operation, wait, clock)


@contextlib.contextmanager
def _shared_lock(config, operation, wait, clock):
    holder = {
        "operation": operation,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": clock().isoformat(timespec="seconds"),
    }
    try:
        lease = redislock.acquire(config, holder, wait=max(wait, GRACE_SECONDS))
    except redislock.Taken as taken:
        raise BackupLocked(
            f"cannot start the {operation}: {describe_holder(taken.holder)}; "
            "try again when it has finished"
        ) from None
    try:
        yield holder
    finally:
        lease.release()


def flock_within(fd, wait):
    """Take an exclusive flock on ``fd``, trying for ``wait`` seconds; return True once taken."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)


@contextlib.contextmanager
def _file_lock(config, operation, wait, clock):
    fd = _open(config)
    try:
        if not flock_within(fd, max(wait, GRACE_SECONDS)):
            holder = _read_record(fd)
            raise BackupLocked(
                f"cannot start the {operation}: {describe_holder(holder)}; "
                "try again when it has finished"
            )
        holder = {
            "operation": operation,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": clock().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield holder
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def lock_holder(config):
    """Return the record of the running backup or restore, or None when none runs."""
    if redislock.enabled(config):
        return redislock.holder(config)
    path = lock_path(config)
    if not path.exists():
        return None
    fd = _open(config)
    try:
        record = _read_record(fd)
        if not record:
            # An empty record means free, or a holder in its first microsecond:
            # not worth probing (a probe briefly takes the lock itself).
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return record
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # the record was left by a process that died
    finally:
        os.close(fd)
