"""The life of a "Download my site" job: request, claim, progress, outcome, sweep.

A job moves ``queued -> running -> ready | failed``; every move is a conditional
UPDATE, so a task delivered twice, a sweep and a late worker can never both win.
A ready job whose file the sweep deleted keeps its state and loses its
``filename``: the page then shows it as expired.
"""

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from sqlalchemy import select, text, update

from app.archive import NotEnoughSpace
from app.exports import remote
from app.exports.export import (
    ExportFailed,
    SiteNotFound,
    export_site,
    exports_dir,
    is_export_temporary,
)
from app.models import ExportJob, utcnow
from app.storage import StorageError

log = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")
PROGRESS_INTERVAL = 0.25  # seconds between two progress writes to the job row
STUCK_MESSAGE = (
    "The export stopped before it finished (the worker was probably restarted). Start a new export."
)


def find_active_job(session, site_id):
    """Return the queued or running job of ``site_id``, or None."""
    return session.scalar(
        select(ExportJob)
        .where(ExportJob.site_id == site_id, ExportJob.state.in_(ACTIVE_STATES))
        .order_by(ExportJob.id.desc())
        .limit(1)
    )


def request_export_job(session, site_id, user_id, *, stuck_after, clock=utcnow):
    """Return ``(job, created)``: the site's active job, or a new queued one.

    Commits. Concurrent requests for one site are serialised on the site's row,
    so double clicks give one job. A job stuck longer than ``stuck_after``
    seconds is failed first, so it never blocks a new request.
    """
    session.commit()  # end any read transaction: the lock below must come first
    locked = session.execute(
        text("UPDATE sites SET subdomain = subdomain WHERE id = :id"), {"id": site_id}
    )
    if locked.rowcount == 0:
        session.rollback()
        raise LookupError(f"no site with id {site_id}")
    fail_stuck_jobs(session, stuck_after=stuck_after, clock=clock, site_id=site_id)
    job = find_active_job(session, site_id)
    if job is not None:
        session.commit()
        return job, False
    job = ExportJob(site_id=site_id, user_id=user_id, state="queued", created_at=clock())
    session.add(job)
    session.commit()
    return job, True


def claim_job(session, job_id, *, clock=utcnow):
    """Move job ``job_id`` from queued to running; return True if this caller won it. Commits."""
    session.commit()  # a write must open its transaction (SQLite refuses to upgrade a stale read)
    claimed = session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.state == "queued")
        .values(state="running", started_at=clock(), progress_done=0, progress_total=0)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return claimed.rowcount == 1


def record_progress(engine, job_id, done, total):
    """Store the progress of a running job, in a transaction of its own."""
    with engine.begin() as conn:
        conn.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.state == "running")
            .values(progress_done=done, progress_total=total)
        )


def finish_job(session, job_id, result, *, clock=utcnow):
    """Mark a running job ready with ``result``'s file; return False if it was no longer running."""
    done = session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.state == "running")
        .values(
            state="ready",
            filename=result.path.name,
            size=result.size,
            sha256=result.sha256,
            error=None,
            finished_at=clock(),
            progress_done=ExportJob.progress_total,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return done.rowcount == 1


def fail_job(session, job_id, message, *, clock=utcnow):
    """Mark a queued or running job failed with ``message``; return True if it was."""
    failed = session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.state.in_(ACTIVE_STATES))
        .values(state="failed", error=message[:2000], finished_at=clock())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return failed.rowcount == 1


class _ThrottledProgress:
    """Write progress to the job row at most every PROGRESS_INTERVAL seconds (and at the end)."""

    def __init__(self, engine, job_id):
        self.engine, self.job_id, self.last = engine, job_id, 0.0

    def __call__(self, done, total):
        now = time.monotonic()
        if done < total and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        record_progress(self.engine, self.job_id, done, total)


def failure_message(exc):
    """Return the sentence a site owner sees for ``exc`` (never a server path; the log has it)."""
    if isinstance(exc, NotEnoughSpace):
        return "The server ran out of disk space while writing the export. Try again later."
    if isinstance(exc, ExportFailed | SiteNotFound):
        return str(exc)
    if isinstance(exc, StorageError):
        return "The export could not be stored for download. Try again later."
    if isinstance(exc, OSError) and exc.strerror:
        return f"The server could not write the export ({exc.strerror}). Try again later."
    return "The export failed on an unexpected error. Try again; if it fails again, tell us."


def run_export_job(config, session, job_id, *, clock=utcnow, export=export_site):
    """Run job ``job_id`` if it is still queued; return its final state, or None if skipped.

    Safe to call twice for one job: only the caller that claims it does the work.
    """
    if not claim_job(session, job_id, clock=clock):
        log.info("export job %s is not queued any more; skipping", job_id)
        return None
    site_id = session.get(ExportJob, job_id).site_id
    progress = _ThrottledProgress(session.get_bind(), job_id)
    try:
        result = export(config, site_id, clock=clock, progress=progress, session=session)
        result = remote.publish_export(config, result)  # to EXPORT_STORAGE_URL when set
    except Exception as exc:
        session.rollback()
        log.exception("export job %s of site %s failed", job_id, site_id)
        fail_job(session, job_id, failure_message(exc), clock=clock)
        return "failed"
    session.rollback()  # end the export's read transaction before writing
    if not finish_job(session, job_id, result, clock=clock):
        # The sweep gave up on this job meanwhile; its file would never be offered.
        result.path.unlink(missing_ok=True)
        remote.discard(config, result.path.name)
        return None
    return "ready"


def _stuck(cutoff):
    """Return the condition of a job queued or running since before ``cutoff``."""
    return (ExportJob.state == "queued") & (ExportJob.created_at < cutoff) | (
        ExportJob.state == "running"
    ) & (ExportJob.started_at < cutoff)


def _fail_stuck(session, job_ids, cutoff, now):
    """Fail those of ``job_ids`` that are still stuck; return their ids."""
    failed = []
    for job_id in job_ids:
        done = session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, _stuck(cutoff))
            .values(state="failed", error=STUCK_MESSAGE, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount:
            failed.append(job_id)
    return failed


def fail_stuck_jobs(session, *, stuck_after, clock=utcnow, site_id=None):
    """Mark failed the jobs queued or running for longer than ``stuck_after`` seconds.

    Does not commit; returns the ids it failed.
    """
    now = clock()
    cutoff = now - timedelta(seconds=stuck_after)
    query = select(ExportJob.id).where(_stuck(cutoff))
    if site_id is not None:
        query = query.where(ExportJob.site_id == site_id)
    return _fail_stuck(session, list(session.scalars(query)), cutoff, now)


@dataclass
class SweepReport:
    """What one sweep did."""

    expired_files: list[str] = field(default_factory=list)
    stuck_jobs: list[int] = field(default_factory=list)
    temporaries: list[str] = field(default_factory=list)


def sweep_exports(config, session, *, clock=utcnow):
    """Delete exports older than EXPORT_RETENTION, fail stuck jobs, remove old temporaries.

    Commits. A ready job whose file is deleted keeps its state and loses its
    file name, so its page says it expired.
    """
    session.commit()  # a write must open its transaction (SQLite refuses to upgrade a stale read)
    report = SweepReport()
    now = clock()
    folder = exports_dir(config)
    retention = timedelta(seconds=config["EXPORT_RETENTION"])
    stuck_after = config["EXPORT_STUCK_AFTER"]

    # Read, end the read, then write: each write opens its own transaction.
    cutoff = now - timedelta(seconds=stuck_after)
    stuck = list(session.scalars(select(ExportJob.id).where(_stuck(cutoff))))
    session.commit()
    for job_id in stuck:
        report.stuck_jobs += _fail_stuck(session, [job_id], cutoff, now)
        session.commit()

    expired = session.execute(
        select(ExportJob.id, ExportJob.filename).where(
            ExportJob.state == "ready",
            ExportJob.filename.is_not(None),
            ExportJob.finished_at < now - retention,
        )
    ).all()
    session.commit()
    for job_id, filename in expired:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.filename == filename)
            .values(filename=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()  # forget the file before deleting it: never a link to nothing
        if "/" not in filename and "\\" not in filename:
            (folder / filename).unlink(missing_ok=True)
            remote.discard(config, filename)
        report.expired_files.append(filename)

    if remote.enabled(config):
        offered = set(
            session.scalars(select(ExportJob.filename).where(ExportJob.filename.is_not(None)))
        )
        session.rollback()
        report.expired_files += remote.sweep_objects(
            config, offered, now, retention.total_seconds()
        )

    if folder.is_dir():
        offered = set(
            session.scalars(select(ExportJob.filename).where(ExportJob.filename.is_not(None)))
        )
        session.rollback()
        wall_now = now.replace(tzinfo=UTC).timestamp()  # file ages by the same clock
        for path in folder.iterdir():
            age = wall_now - path.lstat().st_mtime
            if is_export_temporary(path.name):
                if age > stuck_after:
                    _remove(path)
                    report.temporaries.append(path.name)
            elif path.name not in offered and age > retention.total_seconds():
                _remove(path)  # e.g. `flask site export` files, or rows deleted with their site
                report.expired_files.append(path.name)
    return report


def _remove(path):
    """Remove a file or a temporary folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
