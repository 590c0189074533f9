"""Maintenance mode: a flag file in the data dir that makes the web answer 503.

A restore sets the flag while it replaces the database and media, so that no
write is lost in between, and removes it when done. A restore always holds the
backup lock while the flag is set, and both record the same process, so a
flag whose process does not hold the lock (the lock is free, or a later backup
holds it) was left by a restore that was killed: it is stale and ignored (the
next restore replaces it). With BACKUP_LOCK_URL set, the flags live in Redis
beside the lock (``app.coordination.redislock``, one key per flag file name), so
every host sees them.
"""

import contextlib
import json
import os
import re
import socket

from app.config import data_path
from app.coordination import redislock
from app.coordination.lock import lock_holder
from app.models import utcnow

FLAG_NAME = "maintenance.json"
SITE_FLAG = re.compile(r"maintenance-site-([0-9]+)\.json")


def flag_path(config):
    """Return the path of the maintenance flag file."""
    return data_path(config, FLAG_NAME)


def site_flag_path(config, site_id):
    """Return the path of the maintenance flag of one site."""
    return data_path(config, f"maintenance-site-{int(site_id)}.json")


def enter_maintenance(config, reason, *, clock=utcnow, path=None):
    """Set the maintenance flag with a short ``reason`` (call while holding the backup lock)."""
    path = path or flag_path(config)
    record = {
        "reason": reason,
        "since": clock().isoformat(timespec="seconds"),
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    if redislock.enabled(config):  # hosts without a shared data dir (BACKUP_LOCK_URL)
        redislock.set_flag(config, record, name=path.name)
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def _clear(config, path):
    if redislock.enabled(config):
        redislock.clear_flag(config, name=path.name)
    else:
        path.unlink(missing_ok=True)


def leave_maintenance(config):
    """Remove the maintenance flag."""
    _clear(config, flag_path(config))


@contextlib.contextmanager
def site_maintenance(config, site_id, reason, *, clock=utcnow):
    """Make only site ``site_id`` answer 503 while the block runs (hold the backup lock)."""
    if site_id is None:
        yield
        return
    path = site_flag_path(config, site_id)
    enter_maintenance(config, reason, clock=clock, path=path)
    try:
        yield
    finally:
        _clear(config, path)


def sites_in_maintenance(config):
    """Return the ids of the sites whose own maintenance flag is on (stale flags ignored)."""
    found = set()
    if redislock.enabled(config):
        names = redislock.flag_names(config)
    else:
        names = [path.name for path in data_path(config).glob("maintenance-site-*.json")]
    for name in names:
        match = SITE_FLAG.fullmatch(name)
        if match and maintenance_state(config, path=data_path(config, name)) is not None:
            found.add(int(match.group(1)))
    return found


def maintenance_state(config, *, path=None):
    """Return the flag's record while maintenance is on, else None (also for a stale flag)."""
    path = path or flag_path(config)
    if redislock.enabled(config):
        record = redislock.read_flag(config, name=path.name)
        if not record:
            return None
    else:
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # half-written by a killed process
    holder = lock_holder(config)
    if not isinstance(record, dict) or holder is None:
        return None
    if (holder.get("pid"), holder.get("host")) != (record.get("pid"), record.get("host")):
        return None
    return record
