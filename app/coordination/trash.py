"""Deferred media removal: deleted media wait in ``<data dir>/media-trash/`` before they go.

A media file leaves ``uploads/`` only after its row's deletion commits (see
``app.media.delete_media``): it is renamed to ``media-trash/<site_id>/<name>``,
where a backup still finds it (``app.backup.mediasnap`` walks the trash too),
so a backup whose database snapshot predates the deletion holds the file. The
sweep removes trashed files older than a grace period, and only while it holds
the backup lock, so never while a backup runs.
"""

import contextlib
import logging
import os
import time
from pathlib import Path

from app.archive import walk
from app.config import data_path
from app.coordination.errors import BackupLocked
from app.coordination.lock import backup_lock

log = logging.getLogger(__name__)

TRASH_NAME = "media-trash"
DEFAULT_GRACE_SECONDS = 3600
# The sweep holds the backup lock; a backup starting meanwhile waits about a
# second (lock.GRACE_SECONDS), so one sweep stops after this long.
SWEEP_BUDGET_SECONDS = 0.5


def trash_dir(config):
    """Return the trash folder of deleted media files."""
    return data_path(config, TRASH_NAME)


def move_to_trash(config, relpath):
    """Move ``uploads/<relpath>`` into the trash (call after the row's deletion committed)."""
    source = data_path(config, "uploads", relpath)
    target = trash_dir(config) / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)
    except FileNotFoundError:
        return  # already gone (deleted twice, or restored away)
    now = time.time()
    os.utime(target, (now, now))  # the grace period counts from the deletion


def sweep_trash(config, *, grace=None, now=None):
    """Delete trashed media older than ``grace`` seconds; return how many went, or None.

    None means a backup or restore held the lock: nothing was deleted.
    """
    if grace is None:
        grace = config.get("MEDIA_TRASH_GRACE", DEFAULT_GRACE_SECONDS)
    folder = trash_dir(config)
    if not folder.is_dir():
        return 0
    try:
        with backup_lock(config, "media sweep"):
            return _sweep_locked(folder, grace, time.time() if now is None else now)
    except BackupLocked:
        log.info("media trash not swept: a backup or restore is running")
        return None


def _sweep_locked(folder, grace, now):
    deleted = 0
    stop = time.monotonic() + SWEEP_BUDGET_SECONDS
    for root, dirs, names in walk(folder):
        for name in names:
            path = Path(root, name)
            try:
                if now - path.lstat().st_mtime < grace:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            deleted += 1
            if time.monotonic() > stop:
                return deleted  # the next sweep goes on
        for name in dirs:
            with contextlib.suppress(OSError):
                Path(root, name).rmdir()  # only empty site folders go
    return deleted
