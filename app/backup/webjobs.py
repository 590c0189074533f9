"""Jobs started from the backups page: back up now, verify one backup, roll back one site.

A job is one JSON file ``<data dir>/backups/web-jobs/<job id>.json`` that moves
``queued -> running -> done | failed``. The page writes it and queues a task;
the task claims it (a ``.claimed`` file made with O_EXCL, so a message
delivered twice runs once), reports progress into it, and records the outcome.
The page reads the files (never the database or the broker), so it shows a
running job while either is down.

The backup itself is the same recorded run as the nightly one
(``app.backup.runs.run_backup`` with trigger ``web``: same lock, same run log).
The loader of a site roll-back is passed in, as for ``restore_site``.
"""

import json
import os
import re
import secrets
import time
from datetime import timedelta

from app.archive import member_count
from app.backup import catalog, notify, verification
from app.backup.errors import BackupError, BackupLocked
from app.backup.runs import BackupRunFailed, run_backup
from app.backup.siterestore import restore_site
from app.config import data_path
from app.models.types import format_utc, parse_utc, utcnow

KINDS = ("backup", "verify", "rollback")
ACTIVE = ("queued", "running")
JOB_ID = re.compile(r"[0-9a-f]{16}")
KEEP_FINISHED = timedelta(days=2)
# Longer than a task may run (celeryconfig.BACKUP_TIME_LIMIT, 4 h): a job still "running"
# after this lost its worker.
RUNNING_LIMIT = timedelta(hours=5)
STUCK = "The job stopped before it finished (the worker was restarted); nothing was changed."
NEVER_TAKEN = "No worker took the job (check that the worker runs); nothing was changed."


class JobRefused(BackupError):
    """The job cannot start (bad backup id, no such site, one of its kind already runs)."""


def jobs_dir(config):
    """Return the folder of the backups page's jobs."""
    return data_path(config, "backups", "web-jobs")


def _path(config, job_id):
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return None
    return jobs_dir(config) / f"{job_id}.json"


def write_job(config, job):
    """Store ``job`` atomically."""
    path = _path(config, job["id"])
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(job))
    os.replace(tmp, path)


def read_job(config, job_id, *, clock=utcnow):
    """Return job ``job_id``, or None; a job no worker took or finished in time reads failed."""
    path = _path(config, job_id)
    try:
        job = json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None
    if not job or job["state"] not in ACTIVE:
        return job
    if job["state"] == "queued":
        if (clock() - parse_utc(job["created_at"])).total_seconds() > config["EXPORT_STUCK_AFTER"]:
            job.update(state="failed", error=NEVER_TAKEN)
    elif clock() - parse_utc(job["started_at"]) > RUNNING_LIMIT:
        job.update(state="failed", error=STUCK)
    return job


def list_jobs(config, *, clock=utcnow):
    """Return every job, newest first."""
    folder = jobs_dir(config)
    if not folder.is_dir():
        return []
    jobs = [read_job(config, p.stem, clock=clock) for p in folder.glob("*.json")]
    return sorted((j for j in jobs if j), key=lambda j: (j["created_at"], j["id"]), reverse=True)


def active_job(config, kind, backup_id=None):
    """Return the queued or running job of ``kind`` (for ``backup_id``), or None."""
    for job in list_jobs(config):
        same = backup_id is None or job["backup_id"] == backup_id
        if job["kind"] == kind and job["state"] in ACTIVE and same:
            return job
    return None


def _sweep(config, now):
    for job in list_jobs(config, clock=lambda: now):
        if job["state"] not in ACTIVE and now - parse_utc(job["created_at"]) > KEEP_FINISHED:
            for suffix in (".json", ".claimed"):
                (jobs_dir(config) / f"{job['id']}{suffix}").unlink(missing_ok=True)


def new_job(config, kind, user_id, *, backup_id=None, subdomain=None, clock=utcnow):
    """Create and return a queued job of ``kind`` (one of KINDS) asked for by ``user_id``."""
    if kind not in KINDS:
        raise JobRefused(f"unknown job kind {kind!r}")
    if backup_id is not None:
        backup_id = catalog.normalize_id(backup_id)
        catalog.backup_path(config, backup_id)  # raises BackupNotFound
    jobs_dir(config).mkdir(parents=True, exist_ok=True)
    now = clock()
    _sweep(config, now)
    job = {
        "id": secrets.token_hex(8), "kind": kind, "state": "queued", "user_id": user_id,
        "backup_id": backup_id, "subdomain": subdomain, "created_at": format_utc(now),
        "started_at": None, "finished_at": None, "error": None, "result": None,
        "progress": {"phase": None, "done": 0, "total": 0},
    }  # fmt: skip
    write_job(config, job)
    return job


def fail_job(config, job_id, message, *, clock=utcnow):
    """Mark job ``job_id`` failed with ``message`` (e.g. when it could not be queued)."""
    job = read_job(config, job_id)
    if job is not None:
        job.update(state="failed", error=message, finished_at=format_utc(clock()))
        write_job(config, job)


def _claim(config, job_id, clock):
    """Return the job if this caller claims it (state queued, not claimed yet), else None."""
    job = read_job(config, job_id, clock=clock)
    if job is None or job["state"] != "queued":
        return None
    try:
        os.close(os.open(jobs_dir(config) / f"{job_id}.claimed", os.O_CREAT | os.O_EXCL, 0o640))
    except FileExistsError:
        return None
    job.update(state="running", started_at=format_utc(clock()))
    write_job(config, job)
    return job


def _reporter(config, job):
    last = [0.0]

    def progress(phase, done, total):
        now = time.monotonic()
        if now - last[0] < 0.2 and done < total:
            return  # a file write per member would slow large backups down
        last[0] = now
        job["progress"] = {"phase": phase, "done": done, "total": total}
        write_job(config, job)

    return progress


def run_job(config, engine, job_id, *, task_id=None, load=None, clock=utcnow, **options):
    """Run queued job ``job_id`` if this caller claims it; return its final state (None: skipped).

    ``load(rows, site_id)`` is the site loader a roll-back hands its rows to;
    ``options`` go to ``run_backup`` (``time_limit_errors``).
    """
    job = _claim(config, job_id, clock)
    if job is None:
        return None
    progress = _reporter(config, job)
    try:
        if job["kind"] == "backup":
            record, outcome = run_backup(
                config, engine, trigger="web", task_id=task_id, progress=progress,
                clock=clock, log_errors=True, **options,
            )  # fmt: skip
            result = {**outcome.to_dict(), "run": record.get("run")}
        elif job["kind"] == "verify":
            # Recorded beside the backups like `flask backup verify` and the scheduled checks.
            result, manifest = verification.check_backup(
                config, job["backup_id"], progress=progress, clock=clock
            )
            if not result["ok"]:
                return _finish(config, job, clock, result=result, error=result["error"])
            result = {**result, "members": member_count(manifest)}  # as `tar tf` lists them
        else:
            told = notify.restore_reported(
                config,
                started_by=notify.by_page_user(engine, job["user_id"]),
                backup_id=job["backup_id"],
                site=job["subdomain"],
                clock=clock,
            )
            with told:
                outcome = restore_site(
                    config, engine, job["backup_id"], job["subdomain"], load=load,
                    progress=progress, clock=clock,
                )  # fmt: skip
            result = outcome.to_dict()
    except (BackupRunFailed, BackupLocked, BackupError) as exc:
        return _finish(config, job, clock, error=str(exc))
    except Exception as exc:
        return _finish(config, job, clock, error=f"unexpected error: {type(exc).__name__}: {exc}")
    return _finish(config, job, clock, result=result)


def _finish(config, job, clock, *, result=None, error=None):
    job.update(
        state="failed" if error else "done",
        error=error,
        result=result,
        finished_at=format_utc(clock()),
    )
    write_job(config, job)
    return job["state"]
