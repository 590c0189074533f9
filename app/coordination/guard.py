"""The one guard of a one-site write: the backup lock, with that site in maintenance.

Every path that replaces one site (a one-site restore from a system backup, an
import over a site, an owner's restore from an export file and its undo) holds
it around the write, so the write never interleaves with a backup, a restore or
another write, and the site answers 503 meanwhile. The command line tries the
lock once (``wait=None``: "another backup or restore is running" at once); a
worker's job waits up to ``wait`` seconds for it, but steps aside
(``PausedForRestore``) as soon as a whole-system restore's maintenance flag is
up: that restore waits for the job's task to end, so waiting for it would only
make both wait.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from app.coordination.errors import BackupLocked, PausedForRestore
from app.coordination.lock import backup_lock
from app.coordination.maintenance import maintenance_state, site_maintenance


class Guard(Protocol):
    """``guard(site_id)``: a context manager held around one site's write (None: a new site)."""

    def __call__(self, site_id: int | None) -> AbstractContextManager[None]: ...


def site_guard(
    config: Any,
    operation: str,
    *,
    wait: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Guard:
    """Return the guard of ``operation`` ("site restore", "site import", ...) on ``config``."""

    @contextlib.contextmanager
    def guard(site_id: int | None) -> Iterator[None]:
        with contextlib.ExitStack() as held:
            if wait is None:
                held.enter_context(backup_lock(config, operation))
            else:
                _wait_for_lock(config, operation, wait, monotonic, held)
            reason = f"{operation} of site {site_id}"
            held.enter_context(site_maintenance(config, site_id, reason))
            yield

    return guard


def _wait_for_lock(
    config: Any,
    operation: str,
    wait: float,
    monotonic: Callable[[], float],
    held: contextlib.ExitStack,
) -> None:
    """Take the backup lock within ``wait`` seconds; step aside for a whole-system restore."""
    deadline = monotonic() + wait
    while True:
        state = maintenance_state(config)
        if state is not None:
            raise PausedForRestore(f"{operation} paused: {state.get('reason', 'a restore runs')}")
        try:
            held.enter_context(backup_lock(config, operation))  # tries about a second
            return
        except BackupLocked:
            if monotonic() >= deadline:
                raise
