"""Making a recorded system backup run, and saying in words a person can act on why one failed.

``run_backup`` is what the nightly task and ``flask backup create`` call: it
records the start and the end of the run in the run log (``app.backup.runlog``)
around ``system.create_backup``.

Outcomes: ``ok`` (a new backup was written), ``unchanged`` (nothing changed,
the newest backup is still current), ``skipped`` (another backup or restore
held the lock: not a failure), ``failed`` (with ``reason``, one of
REASONS, and an ``error`` line a person can act on).
"""

import errno
import logging
import time

import sqlalchemy.exc as sa_exc

from app.archive import is_disk_full
from app.backup import notify, system
from app.backup.errors import ArchiveError, BackupError, BackupLocked, NotEnoughSpace
from app.backup.offsite import after_backup
from app.backup.runlog import end_run, note_run, start_run
from app.errors import StinkyKittyError
from app.models import utcnow

log = logging.getLogger(__name__)

DISK_FULL = "disk full"
DATABASE_UNREACHABLE = "database unreachable"
PERMISSION_DENIED = "permission denied"
TIME_LIMIT = "time limit hit"
BACKUP_FAILED = "backup error"
UNEXPECTED = "unexpected error"
REASONS = (
    DISK_FULL,
    DATABASE_UNREACHABLE,
    PERMISSION_DENIED,
    TIME_LIMIT,
    BACKUP_FAILED,
    UNEXPECTED,
)

PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)
DATABASE_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


class BackupRunFailed(BackupError):
    """A backup run failed; ``str()`` is "<reason>: <what to do>", ``record`` its run record.

    Its exit code is its cause's when the cause is an app error (a full disk: 7).
    """

    def __init__(self, message, record=None, cause=None):
        super().__init__(message)
        self.record = record
        if isinstance(cause, StinkyKittyError):
            self.exit_code = cause.exit_code


# --- describing failures ------------------------------------------------------


def _chain(exc):
    """Yield ``exc`` and the exceptions it was raised from, outermost first."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _first_line(text):
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe_failure(exc, *, time_limit_errors=()):
    """Return (reason, message): why ``exc`` made a backup fail, in words a person can act on.

    ``reason`` is one of REASONS; ``message`` starts with it and says what to do.
    """
    for cause in _chain(exc):
        if time_limit_errors and isinstance(cause, time_limit_errors):
            return TIME_LIMIT, (
                f"{TIME_LIMIT}: the backup ran longer than its time limit and was stopped; "
                "nothing was kept. Check for a slow disk or database, or raise the limit "
                "(celeryconfig.BACKUP_TIME_LIMIT)"
            )
        if isinstance(cause, NotEnoughSpace):
            text = str(cause)
            return DISK_FULL, text if text.startswith(DISK_FULL) else f"{DISK_FULL}: {text}"
        if is_disk_full(cause):
            where = f" on {cause.filename}" if cause.filename else ""
            return DISK_FULL, (
                f"{DISK_FULL}: no space left{where}; nothing was kept. "
                "Free some space (or delete old backups) and run `flask backup create`"
            )
        if isinstance(cause, OSError) and cause.errno in PERMISSION_ERRNOS:
            where = f" {cause.filename}" if cause.filename else " the data dir"
            return PERMISSION_DENIED, (
                f"{PERMISSION_DENIED}: cannot write{where} ({cause.strerror}); give the user "
                "running the worker and `flask` write access to STINKY_DATA_DIR"
            )
        if isinstance(cause, DATABASE_ERRORS):
            detail = _first_line(getattr(cause, "orig", None) or cause)
            return DATABASE_UNREACHABLE, (
                f"{DATABASE_UNREACHABLE}: {detail}; check that the database server runs "
                "and that DATABASE_URL points at it"
            )
    if isinstance(exc, BackupError | ArchiveError):
        return BACKUP_FAILED, f"{BACKUP_FAILED}: {exc}"
    return UNEXPECTED, (
        f"{UNEXPECTED}: {type(exc).__name__}: {_first_line(exc)} (the worker log has the traceback)"
    )


# --- making a run ---------------------------------------------------------------


def run_backup(
    config,
    engine,
    *,
    trigger,
    clock=utcnow,
    skip_unchanged=None,
    progress=None,
    task_id=None,
    time_limit_errors=(),
    log_errors=True,
):
    """Make a system backup (retention included) and record the run; return (record, outcome).

    Raises BackupLocked when another backup or restore runs (recorded as
    ``skipped``), and BackupRunFailed with the reason when the backup fails
    (recorded as ``failed`` and, unless ``log_errors`` is false, logged at
    ERROR level). ``time_limit_errors`` are exception classes that mean the
    run hit its time limit.
    """
    start = start_run(config, trigger, clock=clock, task_id=task_id)
    began = time.monotonic()
    try:
        outcome = system.create_backup(
            config, engine, clock=clock, skip_unchanged=skip_unchanged, progress=progress
        )
    except BackupLocked as exc:
        elapsed = time.monotonic() - began
        end_run(config, start, "skipped", clock=clock, elapsed=elapsed, error=str(exc))
        raise
    except Exception as exc:
        reason, message = describe_failure(exc, time_limit_errors=time_limit_errors)
        record = end_run(
            config,
            start,
            "failed",
            clock=clock,
            elapsed=time.monotonic() - began,
            reason=reason,
            error=message,
        )
        if log_errors:
            log.error(
                "system backup (%s) failed: %s", trigger, message, exc_info=reason == UNEXPECTED
            )
        _tell(config, record, clock)
        raise BackupRunFailed(message, record, exc) from exc
    state = "ok" if outcome.created else "unchanged"
    copied = after_backup(config, clock=clock)  # {} unless BACKUP_STORAGE_URL is set
    record = end_run(
        config,
        start,
        state,
        clock=clock,
        elapsed=time.monotonic() - began,
        backup=outcome,
        **copied,
    )
    _tell(config, record, clock)
    return record, outcome


def _tell(config, record, clock):
    """Ping the heartbeat and run the notification check; note what failed in ``record``."""
    noted = notify.after_run(config, record, clock=clock)
    if noted:
        note_run(config, record, **noted)
        record.update(noted)
