"""Job records on disk, crash-consistent: the backups page's jobs and the site restore jobs.

A job is a JSON record that moves ``queued -> running -> done | failed``.
Every state is written atomically and durably: a temporary file, fsync,
rename, fsync of the folder; a crash leaves the old record or the new one,
never half of one.

A worker claims a job by creating its ``claimed`` marker with O_EXCL (a task
delivered twice runs once) and holds an ``flock`` on it until the job's last
state is written. The kernel drops that lock when the process dies, however
it dies, so a reader knows at once that a job still reading ``running`` has
lost its worker. Such a job is settled by what really happened:

* a job that changes the database names a commit token in its record before
  its transaction begins and inserts the token inside that transaction
  (``app.commitmarks``): the token in the database means it committed, so the
  job is done; its absence means nothing changed, so the job failed;
* any other job failed, and changed nothing (its outputs are atomic too).

Two layouts: one folder per job (``<root>/<id>/job.json``, markers beside it,
room for the job's files) or flat files (``<root>/<id>.json``, ``<id>.claimed``).
"""

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from app.archive import fsync_dir
from app.commitmarks import JOB_PREFIX, committed, drop_mark
from app.models import format_utc, utcnow

JOB_ID = re.compile(r"[0-9a-f]{16}")
RECORD = "job.json"
CLAIMED = "claimed"
ACTIVE = ("queued", "running")


class JobProgress(TypedDict):
    """How far a running job is: its phase (None before the first) and done of total."""

    phase: str | None
    done: int
    total: int


class Job(TypedDict):
    """The record of a job: what every job holds and this module reads or writes.

    Each kind adds keys of its own (a backups-page job its ``kind``, ``user_id``
    and ``result``; a site restore job its ``site_id``, ``preview`` and
    ``summary``, a LoadSummaryDict): the record is stored and read whole.
    """

    id: str
    state: str  # "queued", "running", "done" or "failed" (a restore job "uploaded" first)
    created_at: str  # ISO 8601, UTC
    started_at: NotRequired[str | None]
    finished_at: NotRequired[str | None]
    error: NotRequired[str | None]
    progress: NotRequired[JobProgress]
    commit_token: NotRequired[str]  # while a job that changes the database runs


class JobStore:
    """The jobs of one kind under ``root``; ``folders`` picks the layout."""

    def __init__(self, root: str | PathLike[str], *, folders: bool) -> None:
        self.root = Path(root)
        self.folders = folders

    def path(self, job_id: object, name: str = RECORD) -> Path | None:
        """Return the path of a job's record (or marker ``name``), or None for a malformed id."""
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            return None
        if self.folders:
            return self.root / job_id / name
        return self.root / (f"{job_id}.json" if name == RECORD else f"{job_id}.{name}")

    def _at(self, job_id: str, name: str = RECORD) -> Path:
        """Return ``path(job_id, name)`` of an id this store gave out (so never None)."""
        return cast(Path, self.path(job_id, name))

    def folder(self, job_id: object) -> Path | None:
        """Return the folder of a job's files (folder layout), or None for a malformed id."""
        path = self.path(job_id)
        return path and path.parent

    def new_id(self) -> str:
        """Return a fresh job id, its folder made (folder layout)."""
        job_id = secrets.token_hex(8)
        if self.folders:
            (self.root / job_id).mkdir(parents=True)
        else:
            self.root.mkdir(parents=True, exist_ok=True)
        return job_id

    def write(self, job: Job) -> None:
        """Store ``job`` atomically and durably (write, fsync, rename, fsync the folder)."""
        path = self._at(job["id"])
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
        try:
            with open(tmp, "w") as out:
                json.dump(job, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)

    def read(self, job_id: object) -> Job | None:
        """Return the stored record of ``job_id`` as it is, or None."""
        path = self.path(job_id)
        try:
            job = json.loads(path.read_text()) if path else None
        except (OSError, ValueError):
            return None
        return cast(Job, job) if isinstance(job, dict) else None  # as stored: not checked

    def ids(self) -> list[str]:
        """Return the ids of every job."""
        if not self.root.is_dir():
            return []
        if self.folders:
            names = (p.name for p in self.root.iterdir())
        else:
            names = (p.stem for p in self.root.glob("*.json"))
        return [name for name in names if JOB_ID.fullmatch(name)]

    def mark_once(self, job_id: str, name: str) -> bool:
        """Create marker ``name`` of a job; return False if it existed already."""
        try:
            os.close(os.open(self._at(job_id, name), os.O_CREAT | os.O_EXCL, 0o640))
        except FileExistsError:
            return False
        return True

    def remove(self, job_id: str) -> None:
        """Delete a job: its record, markers and files."""
        if self.folders:
            shutil.rmtree(cast(Path, self.folder(job_id)), ignore_errors=True)
            return
        for name in (RECORD, CLAIMED):
            self._at(job_id, name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def claim(self, job_id: str) -> Iterator[bool]:
        """Claim a queued job for this process: yield True (held until the block ends) or False.

        A claim left by a worker that died before the job ran (its record still
        reads ``queued``) is taken over.
        """
        path = self._at(job_id, CLAIMED)
        fd: int | None
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o640)
            fcntl.flock(fd, fcntl.LOCK_EX)
            fsync_dir(path.parent)
        except FileExistsError:
            fd = self._take_over(path)
        if fd is None:
            yield False
            return
        try:
            job = self.read(job_id)
            yield job is not None and job["state"] == "queued"
        finally:
            os.close(fd)

    def _take_over(self, path: Path) -> int | None:
        """Return a locked fd of the claim ``path`` if its worker is gone, else None."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def release(self, job_id: str) -> None:
        """Give a claimed job back (it is queued again): remove its claim marker."""
        self._at(job_id, CLAIMED).unlink(missing_ok=True)

    def worker_alive(self, job_id: str) -> bool:
        """Return True while the process that claimed ``job_id`` still runs it."""
        try:
            fd = os.open(self._at(job_id, CLAIMED), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def new_token() -> str:
    """Return a fresh commit token for a job's transaction."""
    return JOB_PREFIX + secrets.token_hex(16)


def settle(
    store: JobStore,
    job: Job | None,
    engine: Any,
    *,
    lost: str,
    done: Callable[[Job], dict[str, Any]] | None = None,
    failed: Callable[[Job], dict[str, Any]] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Job | None:
    """Record what really happened to ``job`` if its worker died while it ran; return the job.

    A job whose ``commit_token`` committed becomes ``done`` (updated with
    ``done(job)``); any other becomes ``failed`` with the message ``lost``
    (updated with ``failed(job)``, which may also remove what the job left).
    A job still running, or already finished, is returned as it is; so is one
    whose token cannot be checked (no ``engine``).
    """
    if job is None or job["state"] not in ("running", "done", "failed"):
        return job
    if store.worker_alive(job["id"]):
        return job
    token = job.get("commit_token")
    if job["state"] != "running":  # finished, but died before it dropped its mark
        if token and engine is not None:
            forget_token(store, job, engine)
        return job
    if token and engine is None:
        return job
    went_in = bool(token) and committed(engine, token)
    if store.worker_alive(job["id"]) or store.read(job["id"]) != job:
        return store.read(job["id"])  # a worker took it meanwhile (a retried task)
    finished = format_utc(clock(), "seconds")
    record = cast(dict[str, Any], job)  # a kind's own keys too: the plain dict it is stored as
    if went_in:
        record.update(state="done", error=None, finished_at=finished, **(done(job) if done else {}))
    else:
        record.update(
            state="failed", error=lost, finished_at=finished, **(failed(job) if failed else {})
        )
    store.write(job)
    if token:
        forget_token(store, job, engine)
    return job


def forget_token(store: JobStore, job: Job, engine: Any) -> None:
    """Drop a finished job's commit mark, then its token (the outcome is in its record)."""
    drop_mark(engine, job["commit_token"])
    job.pop("commit_token")
    store.write(job)


def app_engine() -> Any:
    """Return the app's database engine inside an app context, else None."""
    from flask import has_app_context

    if not has_app_context():
        return None
    from app.extensions import db

    return db.engine
