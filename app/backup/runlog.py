"""The record of every system backup run: what started, how it ended, and why it failed.

Each run appends two JSON lines to ``<data dir>/backup-runs.jsonl``: a
``start`` line (trigger, pid, host, task id) when it begins and an ``end``
line (outcome, backup id, size, duration, pruned ids, error) when it ends. The
file lives next to the backups, so ``flask backup status``, ``/healthz`` and
the dashboard read it while the broker and the database are down. A run that
has a start but no end either still runs or was killed (``interrupted``).
``app.backup.runs`` makes the runs and says why one failed.

The file is bounded: past ``BACKUP_RUN_RECORDS`` lines (default 1000) the
oldest go, by an atomic rewrite. Appends and rewrites hold a small flock of
their own (never the backup lock, which a running backup holds for hours).
"""

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import uuid

from app.archive import fsync_dir
from app.config import data_path
from app.coordination import lock_holder
from app.models import format_utc, parse_utc, utcnow

log = logging.getLogger(__name__)

RUNS_NAME = "backup-runs.jsonl"
RUNS_LOCK_NAME = "backup-runs.lock"
DEFAULT_KEEP_LINES = 1000
# An unfinished run on another host (its pid cannot be probed here) counts as
# running this long before it is called interrupted, unless it holds the lock.
OTHER_HOST_GRACE = dt.timedelta(minutes=2)


def runs_path(config):
    """Return the path of the run records file."""
    return data_path(config, RUNS_NAME)


def format_time(moment):
    """Format naive UTC ``moment`` for a run record (to the second)."""
    return format_utc(moment, timespec="seconds")


# --- writing records ------------------------------------------------------------


@contextlib.contextmanager
def _records_lock(config):
    path = data_path(config, RUNS_LOCK_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def append_record(config, record):
    """Append ``record`` as one line, then trim the file to the newest lines."""
    path = runs_path(config)
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with _records_lock(config):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            # A writer killed mid-line left no newline: start on a fresh line.
            if size and _last_byte(path, size) != b"\n":
                line = "\n" + line
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        _trim(config, path)


def _last_byte(path, size):
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)


def _trim(config, path):
    keep = int(config.get("BACKUP_RUN_RECORDS", DEFAULT_KEEP_LINES))
    with open(path, "rb") as f:
        lines = f.readlines()
    if len(lines) <= keep:
        return
    for stale in path.parent.glob(f".{path.name}.tmp-*"):  # a trim killed midway
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.writelines(lines[-keep:])
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _safe_append(config, record):
    """Append ``record``; when the data dir refuses, say so at ERROR level and go on."""
    try:
        append_record(config, record)
    except OSError as exc:
        log.error(
            "could not write the backup run record to %s: %s; "
            "`flask backup status` will not show this run",
            runs_path(config),
            exc,
        )


def start_run(config, trigger, *, clock=utcnow, task_id=None):
    """Record that a backup run starts; return its record (pass it to ``end_run``)."""
    record = {
        "event": "start",
        "run": uuid.uuid4().hex[:16],
        "trigger": trigger,
        "started_at": format_time(clock()),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "task_id": task_id,
    }
    _safe_append(config, record)
    return record


def end_run(config, start, outcome, *, clock=utcnow, elapsed=None, backup=None, **fields):
    """Record how the run ``start`` ended; return the end record."""
    record = {
        **start,
        "event": "end",
        "outcome": outcome,
        "ended_at": format_time(clock()),
        "duration": round(elapsed, 3) if elapsed is not None else None,
        "backup_id": backup.backup_id if backup else None,
        "size": backup.size if backup else None,
        "pruned": list(backup.pruned) if backup else [],
        "reason": None,
        "error": None,
        **fields,
    }
    _safe_append(config, record)
    return record


def note_run(config, record, **fields):
    """Add ``fields`` to the ended run ``record`` (a ``note`` line: what came after its end)."""
    _safe_append(config, {"run": record["run"], "event": "note", **fields})


# --- reading records ------------------------------------------------------------


def _read_lines(config):
    try:
        with open(runs_path(config), "rb") as f:
            raw = f.readlines()
    except FileNotFoundError:
        return []
    records = []
    for line in raw:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash
        if isinstance(record, dict) and record.get("run") and record.get("event"):
            records.append(record)
    return records


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


def _unfinished_state(record, holder, now):
    """Return "running" or "interrupted" for a run with a start but no end."""
    same_holder = holder and holder.get("pid") == record.get("pid")
    if same_holder and holder.get("host") == record.get("host"):
        return "running"
    if record.get("host") == socket.gethostname():
        return "running" if _pid_alive(record.get("pid")) else "interrupted"
    started = parse_utc(record["started_at"])
    return "running" if now - started < OTHER_HOST_GRACE else "interrupted"


def recent_runs(config, *, limit=None, clock=utcnow):
    """Return the recorded runs, newest first, each its end record (or start record plus state).

    An unfinished run has outcome ``running`` or, when its process is gone,
    ``interrupted`` (killed, or the machine stopped).
    """
    runs = {}  # in the order the runs started (appends are serialised)
    for record in _read_lines(config):
        merged = runs.setdefault(record["run"], {})
        if record["event"] == "note":
            merged.update({k: v for k, v in record.items() if k != "event"})
        elif record["event"] == "end" or "outcome" not in merged:
            merged.update(record)
    # A note whose run was trimmed away tells nothing on its own.
    ordered = [run for run in reversed(runs.values()) if "event" in run]
    if limit is not None:
        ordered = ordered[:limit]
    holder = None
    now = clock()
    for record in ordered:
        if record.get("event") != "end":
            if holder is None:
                holder = lock_holder(config) or {}
            record["outcome"] = _unfinished_state(record, holder, now)
            if record["outcome"] == "interrupted":
                record["reason"] = "interrupted"
                record["error"] = (
                    "interrupted: the run started but never finished (the worker was killed "
                    "or the machine stopped); the next run cleans up after it"
                )
    return ordered
