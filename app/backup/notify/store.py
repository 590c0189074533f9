"""The record of what was told: problems announced, the last message, events waiting to be sent.

It lives with the backups (``backups/system/.notifications.json``), or in
Redis when ``BACKUP_LOCK_URL`` is set, so that hosts sharing the backups (or
the Redis) share it and never both send the same message. A check holds the
store's lock while it reads the state, sends and writes it back; a second
check meanwhile gives up at once (or waits, when asked to) instead of sending
twice.

Events that happen once (a restore finished or failed) wait in an outbox
until the next check sends them: appending to it never waits for a check.
"""

import contextlib
import fcntl
import json
import os
import time
import uuid

from app.backup import catalog
from app.coordination import flock_within, redislock

STATE_NAME = ".notifications.json"
LOCK_NAME = ".notifications.lock"
OUTBOX_NAME = ".notifications-outbox.jsonl"
POLL_SECONDS = 0.05
LEASE_MS = 30_000  # the Redis lock's time to live, renewed while a check runs
MAX_EVENTS = 100  # an outbox nobody empties keeps its newest events only


def empty_state():
    """Return the state before anything was told."""
    return {"open": {}, "checked_at": None, "last_message": None, "last_failure": None}


def _normal(state):
    if not isinstance(state, dict):
        return empty_state()
    merged = {**empty_state(), **state}
    if not isinstance(merged["open"], dict):
        merged["open"] = {}
    return merged


class FileStore:
    """The record in files beside the backups, serialised by ``flock``."""

    def __init__(self, config):
        self.folder = catalog.backups_dir(config)

    def _open(self, name):
        self.folder.mkdir(parents=True, exist_ok=True)
        return os.open(self.folder / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def read(self):
        """Return the state (no lock: for showing it)."""
        try:
            return _normal(json.loads((self.folder / STATE_NAME).read_text()))
        except (OSError, ValueError):
            return empty_state()

    def save(self, state):
        """Replace the state atomically."""
        path = self.folder / STATE_NAME
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(state, sort_keys=True, indent=1))
        os.replace(tmp, path)

    @contextlib.contextmanager
    def checking(self, wait=0.0):
        """Hold the check lock (trying ``wait`` seconds); yield the state, or None when busy."""
        fd = self._open(LOCK_NAME)
        try:
            yield self.read() if flock_within(fd, wait) else None
        finally:
            os.close(fd)

    def push(self, event):
        """Append ``event`` to the outbox."""
        fd = self._open(OUTBOX_NAME)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.lseek(fd, 0, os.SEEK_END)
            os.write(fd, (json.dumps(event, sort_keys=True) + "\n").encode())
        finally:
            os.close(fd)

    def take(self):
        """Return the events in the outbox, oldest first, and empty it."""
        fd = self._open(OUTBOX_NAME)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "rb") as f:
                lines = f.read().splitlines()
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        return _events(lines)


def _events(lines):
    events = []
    for line in lines[-MAX_EVENTS:]:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # torn by a crash
        if isinstance(event, dict):
            events.append(event)
    return events


class RedisStore:
    """The record in Redis (``BACKUP_LOCK_URL``), for hosts that share no data dir."""

    def __init__(self, config):
        self.client = redislock.shared_client(config)
        self.state_key = redislock.shared_key(config, "notify:state")
        self.lock_key = redislock.shared_key(config, "notify:lock")
        self.outbox_key = redislock.shared_key(config, "notify:outbox")

    def read(self):
        """Return the state (no lock: for showing it)."""
        raw = self.client.get(self.state_key)
        try:
            return _normal(json.loads(raw)) if raw else empty_state()
        except ValueError:
            return empty_state()

    def save(self, state):
        """Replace the state."""
        self.client.set(self.state_key, json.dumps(state, sort_keys=True))

    @contextlib.contextmanager
    def checking(self, wait=0.0):
        """Hold the check lease (trying ``wait`` seconds); yield the state, or None when busy."""
        value = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        while not self.client.set(self.lock_key, value, nx=True, px=LEASE_MS):
            if time.monotonic() >= deadline:
                yield None
                return
            time.sleep(POLL_SECONDS)
        lease = redislock.Lease(self.client, self.lock_key, value, LEASE_MS)
        try:
            yield self.read()
        finally:
            lease.release()

    def push(self, event):
        """Append ``event`` to the outbox."""
        pipe = self.client.pipeline()
        pipe.rpush(self.outbox_key, json.dumps(event, sort_keys=True))
        pipe.ltrim(self.outbox_key, -MAX_EVENTS, -1)
        pipe.execute()

    def take(self):
        """Return the events in the outbox, oldest first, and empty it."""
        pipe = self.client.pipeline()  # MULTI: nothing pushed between the read and the delete
        pipe.lrange(self.outbox_key, 0, -1)
        pipe.delete(self.outbox_key)
        lines, _ = pipe.execute()
        return _events(lines)


def store_for(config):
    """Return the store of ``config``: Redis with BACKUP_LOCK_URL, else files by the backups."""
    return RedisStore(config) if redislock.enabled(config) else FileStore(config)
