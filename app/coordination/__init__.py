"""Coordination: who may touch the data now, across processes and hosts.

- ``lock``: one backup or restore at a time (an ``flock``, or Redis);
- ``maintenance``: the flags that make the whole app, or one site, answer 503;
- ``running``: the registry of tasks that touch site data, so a restore can
  pause them and wait for them;
- ``guard``: the one guard of a one-site write (the lock, the site's flag);
- ``trash``: deleted media held back while a backup reads the uploads;
- ``redislock``: the lock, flags and registry in Redis, for hosts that share
  no data dir;
- ``errors``: ``BackupLocked``, ``PausedForRestore``, ``TasksStillRunning``.

Below both backups and exports; imports neither.
"""

from app.coordination import redislock
from app.coordination.errors import BackupLocked, PausedForRestore, TasksStillRunning
from app.coordination.guard import Guard, site_guard
from app.coordination.lock import backup_lock, flock_within, lock_holder
from app.coordination.maintenance import (
    enter_maintenance,
    leave_maintenance,
    maintenance_state,
    site_maintenance,
    sites_in_maintenance,
)
from app.coordination.running import site_data_work, wait_for_tasks
from app.coordination.trash import move_to_trash, sweep_trash, trash_dir

__all__ = [
    "BackupLocked",
    "Guard",
    "PausedForRestore",
    "TasksStillRunning",
    "backup_lock",
    "enter_maintenance",
    "flock_within",
    "leave_maintenance",
    "lock_holder",
    "maintenance_state",
    "move_to_trash",
    "redislock",
    "site_data_work",
    "site_guard",
    "site_maintenance",
    "sites_in_maintenance",
    "sweep_trash",
    "trash_dir",
    "wait_for_tasks",
]
