"""The backup lock, maintenance flags and running tasks in Redis, for hosts that share no data dir.

Used when ``BACKUP_LOCK_URL`` (``redis://...``) is set; ``app.coordination.lock`` and
``app.coordination.maintenance`` switch to it and keep their interface. The lock is
a lease: one key set with ``NX`` and a time to live (``BACKUP_LOCK_TTL``,
default 30 s) holding the same holder record as the lock file (operation,
pid, host, start time). A heartbeat thread of the holder renews it every
third of the TTL, so a holder that crashes, is killed or loses its host frees
the lock within one TTL, as the kernel frees an ``flock``. Renewal and release
check a random token first, so a holder never renews or frees a lease that
expired and went to someone else.
"""

import contextlib
import json
import logging
import threading
import time
import uuid
from typing import Any

from app.errors import BUSY, StinkyKittyError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
DEFAULT_PREFIX = "stinkykitty"
# Renew or delete only while the key still holds our token.
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Taken(StinkyKittyError):
    """Someone else holds the lock; ``holder`` is their record (or {})."""

    exit_code = BUSY

    def __init__(self, holder):
        super().__init__("taken")
        self.holder = holder


def enabled(config):
    """Whether the lock and flag live in Redis."""
    return bool(config.get("BACKUP_LOCK_URL"))


# URL -> client: its pool is thread-safe and renews itself after a fork
_clients: dict[str, Any] = {}


def _client(config):
    import redis

    url = config["BACKUP_LOCK_URL"]
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    return _clients[url]


def _key(config, name):
    return f"{config.get('BACKUP_LOCK_PREFIX') or DEFAULT_PREFIX}:{name}"


def shared_client(config):
    """Return the Redis client of BACKUP_LOCK_URL (for other records shared between hosts)."""
    return _client(config)


def shared_key(config, name):
    """Return the Redis key ``name`` under BACKUP_LOCK_PREFIX."""
    return _key(config, name)


def _decode(raw):
    """Return the record in ``raw`` without its token; None when absent, {} when unreadable."""
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(record, dict):
        return {}
    record.pop("token", None)
    return record


class Lease:
    """A held lock: renewed by a heartbeat thread until ``release()``."""

    def __init__(self, client, key, value, ttl_ms):
        self.client, self.key, self.value, self.ttl_ms = client, key, value, ttl_ms
        self.stopped = threading.Event()
        self.lost = False
        self.thread = threading.Thread(target=self._beat, name="backup-lock-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self):
        renew = self.client.register_script(RENEW)
        while not self.stopped.wait(self.ttl_ms / 3000):
            try:
                if not renew(keys=[self.key], args=[self.value, self.ttl_ms]):
                    self.lost = True
                    log.error("the backup lock lease %s expired and was lost", self.key)
                    return
            except Exception as exc:  # Redis away for a moment: try again next beat
                log.warning("could not renew the backup lock lease: %s", exc)

    def release(self):
        """Stop the heartbeat and free the lock (if it is still ours)."""
        self.stopped.set()
        self.thread.join()
        try:
            self.client.register_script(RELEASE)(keys=[self.key], args=[self.value])
        except Exception as exc:  # it expires by itself within one TTL
            log.warning("could not free the backup lock (it expires by itself): %s", exc)


def acquire(config, holder, *, wait):
    """Take the lock for ``holder`` (a record) within ``wait`` seconds; return a Lease.

    Raises Taken with the current holder's record.
    """
    client = _client(config)
    key = _key(config, "backup-lock")
    ttl_ms = _ttl_ms(config)
    value = json.dumps({**holder, "token": uuid.uuid4().hex})
    deadline = time.monotonic() + wait
    while not client.set(key, value, nx=True, px=ttl_ms):
        if time.monotonic() >= deadline:
            raise Taken(_decode(client.get(key)) or {})
        time.sleep(POLL_SECONDS)
    return Lease(client, key, value, ttl_ms)


def holder(config):
    """Return the record of the current holder, or None when the lock is free."""
    return _decode(_client(config).get(_key(config, "backup-lock")))


def _flag_key(config, name):
    return _key(config, f"flag:{name}")


def set_flag(config, record, *, name):
    """Set the maintenance flag ``name`` (a flag file's name) to ``record``."""
    _client(config).set(_flag_key(config, name), json.dumps(record))


def clear_flag(config, *, name):
    """Remove the maintenance flag ``name``."""
    _client(config).delete(_flag_key(config, name))


def read_flag(config, *, name):
    """Return the record of maintenance flag ``name`` (stale or not), or None."""
    return _decode(_client(config).get(_flag_key(config, name)))


def flag_names(config):
    """Return the names of the maintenance flags that are set."""
    prefix = _flag_key(config, "")
    return sorted(
        key.decode()[len(prefix) :] for key in _client(config).scan_iter(match=prefix + "*")
    )


def _ttl_ms(config):
    return max(1, int(float(config.get("BACKUP_LOCK_TTL", 30)) * 1000))


@contextlib.contextmanager
def registered(config, record):
    """Register a running task's ``record`` for every host to see while the block runs (a lease)."""
    client = _client(config)
    key = _key(config, f"task:{uuid.uuid4().hex}")
    value = json.dumps({**record, "token": uuid.uuid4().hex})
    client.set(key, value, px=_ttl_ms(config))
    lease = Lease(client, key, value, _ttl_ms(config))
    try:
        yield
    finally:
        lease.release()


def registered_records(config):
    """Return the records of the registered tasks whose lease is alive."""
    client = _client(config)
    keys = sorted(client.scan_iter(match=_key(config, "task:*")))
    values = client.mget(keys) if keys else []
    return [record for raw in values if (record := _decode(raw)) is not None]
