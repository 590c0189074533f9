"""Disk space and durability: what is free where, the check before a long write,
turning a full disk into a clear error, and making renames survive a crash."""

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from app.archive.errors import NotEnoughSpace

# IEC units (powers of 1024), the one unit system of every size shown: CLI, web and messages.
UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def human_size(n: float) -> str:
    """Return ``n`` bytes as a short text in IEC units, e.g. "1.5 MiB"."""
    n = float(n)
    for unit in UNITS:
        if abs(n) < 1024 or unit == UNITS[-1]:
            return f"{int(n)} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def free_space(path: str | PathLike[str]) -> int:
    """Return the free bytes on the filesystem holding ``path`` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def check_space(needed: int, folder: str | PathLike[str], what: str) -> int:
    """Raise NotEnoughSpace unless about ``needed`` bytes are free for ``what`` in ``folder``."""
    free = free_space(folder)
    if needed > free:
        raise NotEnoughSpace(
            f"{what} needs about {human_size(needed)}, {human_size(free)} free on {folder}; "
            "free some space (or delete old backups) and try again"
        )
    return free


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """Return True when ``exc`` says the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


@contextmanager
def disk_full_as(message: str) -> Iterator[None]:
    """Turn a full disk inside the block into NotEnoughSpace(``message``)."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise NotEnoughSpace(message) from exc
        raise


def fsync_dir(folder: str | PathLike[str]) -> None:
    """Flush a folder's entries to disk, so a rename in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
