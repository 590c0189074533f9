"""Maintenance mode: a flag file in the data dir that makes the web answer 503.

A restore sets the flag while it replaces the database and media, so that no
write is lost in between, and removes it when done. A restore always holds the
backup lock while the flag is set, and both record the same process, so a
flag whose process does not hold the lock (the lock is free, or a later backup
holds it) was left by a restore that was killed: it is stale and ignored (the
next restore replaces it). With BACKUP_LOCK_URL set, the flag lives in Redis
beside the lock (``app.backup.redislock``), so every host sees it.
"""

import json
import os
import socket

from app.backup import redislock
from app.backup.lock import lock_holder
from app.config import data_path
from app.models.types import utcnow

FLAG_NAME = "maintenance.json"


def flag_path(config):
    """Return the path of the maintenance flag file."""
    return data_path(config, FLAG_NAME)


def enter_maintenance(config, reason, *, clock=utcnow):
    """Set the maintenance flag with a short ``reason`` (call while holding the backup lock)."""
    record = {
        "reason": reason,
        "since": clock().isoformat(timespec="seconds"),
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    if redislock.enabled(config):  # hosts without a shared data dir (BACKUP_LOCK_URL)
        redislock.set_flag(config, record)
        return
    path = flag_path(config)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def leave_maintenance(config):
    """Remove the maintenance flag."""
    if redislock.enabled(config):
        redislock.clear_flag(config)
        return
    flag_path(config).unlink(missing_ok=True)


def maintenance_state(config):
    """Return the flag's record while maintenance is on, else None (also for a stale flag)."""
    if redislock.enabled(config):
        record = redislock.read_flag(config)
        if not record:
            return None
    else:
        try:
            record = json.loads(flag_path(config).read_text())
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
