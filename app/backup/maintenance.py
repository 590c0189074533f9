"""Maintenance mode: a flag file in the data dir that makes the web answer 503.

A restore sets the flag while it replaces the database and media, so that no
write is lost in between, and removes it when done. A restore always holds the
backup lock while the flag is set, so a flag found while the lock is free was
left by a restore that was killed: it is stale and ignored (the next restore
replaces it).
"""

import json
import os

from app.backup.lock import lock_holder
from app.config import data_path
from app.models.types import utcnow

FLAG_NAME = "maintenance.json"


def flag_path(config):
    """Return the path of the maintenance flag file."""
    return data_path(config, FLAG_NAME)


def enter_maintenance(config, reason, *, clock=utcnow):
    """Set the maintenance flag with a short ``reason`` (call while holding the backup lock)."""
    path = flag_path(config)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(
        json.dumps(
            {
                "reason": reason,
                "since": clock().isoformat(timespec="seconds"),
                "pid": os.getpid(),
            }
        )
    )
    os.replace(tmp, path)


def leave_maintenance(config):
    """Remove the maintenance flag."""
    flag_path(config).unlink(missing_ok=True)


def maintenance_state(config):
    """Return the flag's record while maintenance is on, else None (also for a stale flag)."""
    path = flag_path(config)
    try:
        data = path.read_text()
    except FileNotFoundError:
        return None
    if lock_holder(config) is None:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        record = {}
    return record if isinstance(record, dict) else {}
