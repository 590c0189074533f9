"""Jobs started from the backups page: back up now, verify one backup, roll back one site.

A job is one JSON file ``<data dir>/backups/web-jobs/<job id>.json`` that moves
``queued -> running -> done | failed``, kept by the crash-consistent job store
(``app.jobstore``). The page writes it and queues a task; the task claims it (a
``.claimed`` file made with O_EXCL, so a message delivered twice runs once, and
locked while the task runs), reports progress into it, and records the outcome.
A job whose worker died reads what really happened: a roll-back whose
transaction committed is done, anything else failed with nothing changed.
The page reads the files (and, for a roll-back whose worker died, the commit
mark in the database), so it shows a running job while the broker is down.

The backup itself is the same recorded run as the nightly one
(``app.backup.runs.run_backup`` with trigger ``web``: same lock, same run log).
The loader of a site roll-back is passed in, as for ``restore_site``.
"""

import time
from datetime import timedelta

from app.archive import member_count
from app.backup import catalog, notify, verification
from app.backup.errors import BackupError
from app.backup.restore import restore_site
from app.backup.runs import run_backup
from app.commitmarks import add_mark, prepare_marks, reached
from app.config import data_path
from app.errors import StinkyKittyError
from app.jobstore import ACTIVE, JOB_ID, JobStore, app_engine, forget_token, new_token, settle
from app.models import format_utc, parse_utc, utcnow
from app.sitedata import SiteLoad, site_loader

__all__ = ["ACTIVE", "JOB_ID"]
KINDS = ("backup", "verify", "rollback")
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


def _store(config):
    return JobStore(jobs_dir(config), folders=False)


def write_job(config, job):
    """Store ``job`` atomically and durably."""
    _store(config).write(job)


def read_job(config, job_id, *, clock=utcnow, engine=None):
    """Return job ``job_id``, or None.

    A job whose worker died reads what happened (``app.jobstore.settle``; the
    database is read through ``engine``, default the app's); one no worker took
    or finished in time reads failed.
    """
    store = _store(config)
    job = settle(store, store.read(job_id), engine or app_engine(), lost=STUCK, clock=clock)
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
    jobs = [read_job(config, job_id, clock=clock) for job_id in _store(config).ids()]
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
            _store(config).remove(job["id"])


def new_job(config, kind, user_id, *, backup_id=None, subdomain=None, clock=utcnow):
    """Create and return a queued job of ``kind`` (one of KINDS) asked for by ``user_id``."""
    if kind not in KINDS:
        raise JobRefused(f"unknown job kind {kind!r}")
    if backup_id is not None:
        backup_id = catalog.normalize_id(backup_id)
        catalog.backup_path(config, backup_id)  # raises BackupNotFound
    job_id = _store(config).new_id()
    now = clock()
    _sweep(config, now)
    job = {
        "id": job_id,
        "kind": kind,
        "state": "queued",
        "user_id": user_id,
        "backup_id": backup_id,
        "subdomain": subdomain,
        "created_at": format_utc(now),
        "started_at": None,
        "finished_at": None,
        "error": None,
        "result": None,
        "progress": {"phase": None, "done": 0, "total": 0},
    }
    write_job(config, job)
    return job


def fail_job(config, job_id, message, *, clock=utcnow):
    """Mark job ``job_id`` failed with ``message`` (e.g. when it could not be queued)."""
    job = read_job(config, job_id)
    if job is not None:
        job.update(state="failed", error=message, finished_at=format_utc(clock()))
        write_job(config, job)


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


def run_job(
    config, engine, job_id, *, task_id=None, load: SiteLoad | None = None, clock=utcnow, **options
):
    """Run queued job ``job_id`` if this caller claims it; return its final state (None: skipped).

    ``load(rows, site_id, prepare=...)`` is the site loader a roll-back hands
    its rows to (default: ``app.sitedata.site_loader``; ``prepare(conn)`` runs
    first in its transaction: it inserts the job's commit mark);
    ``options`` go to ``run_backup`` (``time_limit_errors``).
    """
    store = _store(config)
    load = load or site_loader(config, engine)
    job = read_job(config, job_id, clock=clock, engine=engine)
    if job is None or job["state"] != "queued":
        return None
    with store.claim(job_id) as claimed:
        if not claimed:
            return None
        reached("job-claimed")
        job.update(state="running", started_at=format_utc(clock()))
        if job["kind"] == "rollback":
            prepare_marks(engine)
            job["commit_token"] = new_token()
        write_job(config, job)
        reached("job-running")
        state = _run(config, engine, job, load, task_id, clock, options)
        reached("job-finished")
    if job.get("commit_token"):
        forget_token(store, job, engine)
    return state


def _run(config, engine, job, load, task_id, clock, options):
    progress = _reporter(config, job)
    try:
        if job["kind"] == "backup":
            record, outcome = run_backup(
                config,
                engine,
                trigger="web",
                task_id=task_id,
                progress=progress,
                clock=clock,
                log_errors=True,
                **options,
            )
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
                    config,
                    engine,
                    job["backup_id"],
                    job["subdomain"],
                    progress=progress,
                    load=_marking(load, job["commit_token"]),
                    clock=clock,
                )
                reached("job-committed")
            result = outcome.to_dict()
    except StinkyKittyError as exc:  # BackupRunFailed, BackupLocked, a damaged archive...
        return _finish(config, job, clock, error=str(exc))
    except Exception as exc:
        return _finish(config, job, clock, error=f"unexpected error: {type(exc).__name__}: {exc}")
    return _finish(config, job, clock, result=result)


def _marking(load, token):
    """Return ``load(rows, site_id)`` whose transaction also inserts the commit mark ``token``."""

    def prepare(conn):
        add_mark(conn, token)
        reached("job-marked")

    def marked(rows, site_id):
        return load(rows, site_id, prepare=prepare)

    return marked


def _finish(config, job, clock, *, result=None, error=None):
    job.update(
        state="failed" if error else "done",
        error=error,
        result=result,
        finished_at=format_utc(clock()),
    )
    write_job(config, job)
    return job["state"]
