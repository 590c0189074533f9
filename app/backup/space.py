"""Disk space: what is free where, sizes people can read, and the check before a long write."""

import shutil
from pathlib import Path

from app.backup.errors import NotEnoughSpace

UNITS = ("bytes", "KB", "MB", "GB", "TB")


def human_size(n):
    """Return ``n`` bytes as a short text, e.g. "1.5 MB"."""
    n = float(n)
    for unit in UNITS:
        if abs(n) < 1000 or unit == UNITS[-1]:
            return f"{int(n)} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def free_space(path):
    """Return the free bytes on the filesystem holding ``path`` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def check_space(needed, folder, what):
    """Raise NotEnoughSpace unless about ``needed`` bytes are free for ``what`` in ``folder``."""
    free = free_space(folder)
    if needed > free:
        raise NotEnoughSpace(
            f"{what} needs about {human_size(needed)}, {human_size(free)} free on {folder}; "
            "free some space (or delete old backups) and try again"
        )
    return free
