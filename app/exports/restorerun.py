"""A restore job run: claimed by one worker, the site saved then replaced in one transaction.

``run_restore_job`` runs a queued job of ``app.exports.restorejobs`` (an
uploaded export, an undo, or a version of Site history): it claims the job
(a task delivered twice runs once), and inside the load's transaction first
exports the site exactly as it is replaced (``app.exports.undo``, the undo),
then writes the new rows. A job that steps aside (a whole-system restore began)
is queued again with nothing written; one that fails removes what it saved and
says so in the owner's words (``failure_message``); one whose commit went in
reads done, whatever failed after.
"""

import time

from app.archive import NotEnoughSpace
from app.commitmarks import add_mark, committed, prepare_marks, reached
from app.coordination import Guard
from app.errors import StinkyKittyError
from app.exports import restorejobs
from app.exports.siteimport import import_site
from app.exports.undo import save_before
from app.jobstore import forget_token, new_token
from app.models import format_utc, utcnow


def failure_message(exc):
    """Return the sentence an owner sees for ``exc``."""
    if isinstance(exc, NotEnoughSpace):
        return "The server is short of disk space; the site is as it was. Try again later."
    if isinstance(exc, StinkyKittyError):  # a refusal, a damaged file, a lock...
        return f"{exc}. The site is as it was."
    return "The restore failed on an unexpected error; the site is as it was. Tell us."


def run_restore_job(
    config,
    session,
    job_id,
    *,
    guard: Guard | None = None,
    step_aside=(),
    clock=utcnow,
    replace=None,
):
    """Run queued job ``job_id`` if this caller claims it; return its final state (None: skipped).

    Replaces the site with the job's export in one transaction that first saves
    the site as it replaces it (``app.exports.undo``: the undo). ``guard(site_id)``
    is held around the write (lock, maintenance); when it raises one of the
    exception types ``step_aside``, nothing is written: the job is queued again
    and the exception raised. ``replace(job, prepare=, progress=, before_commit=)``,
    if given, writes the site instead of the export (a restore from a backup,
    ``app.tasks.sitehistory``): ``prepare(conn)`` first in the load's transaction,
    ``before_commit()`` last; it returns the load's summary as a dict. Its
    ``progress(done, total, phase="restoring")`` may name another phase (a
    history restore's "fetching" of an off-site copy).
    """
    engine = session.get_bind()
    session.close()  # this job reads and writes through its own transactions
    store = restorejobs.job_store(config)
    job = restorejobs.read_job(config, job_id, engine=engine)
    if job is None or job["state"] != "queued":
        return None
    with store.claim(job_id) as claimed:
        if not claimed:
            return None
        reached("restore-claimed")
        prepare_marks(engine)
        job.update(state="running", started_at=format_utc(clock(), "seconds"))
        job["commit_token"] = new_token()
        restorejobs.write_job(config, job)
        reached("restore-running")
        replace = replace or _from_upload(config, engine, guard)
        state = _run(config, engine, job, replace, step_aside, clock)
        reached("restore-finished")
    forget_token(store, job, engine)
    return state


def _reporter(config, job, phase):
    """Return ``report(done, total, phase=phase)``, which writes the job's progress now and then."""
    last = [0.0]

    def report(done, total, phase=phase):
        now = time.monotonic()
        same_phase = (job.get("progress") or {}).get("phase") == phase
        if same_phase and now - last[0] < 0.2 and done < total:
            return  # a durable write per member would slow a large site down
        last[0] = now
        job["progress"] = {"phase": phase, "done": done, "total": total}
        restorejobs.write_job(config, job)

    return report


def _from_upload(config, engine, guard):
    """Return the ``replace`` of a job restoring its uploaded export (or the saved one: undo)."""

    def replace(job, *, prepare, progress, before_commit):
        return import_site(
            config,
            engine,
            restorejobs.folder_of(config, job["id"]) / restorejobs.UPLOAD,
            replace_site_id=job["site_id"],
            guard=guard,
            progress=progress,
            prepare=prepare,
            trusted=job["kind"] == "undo",
            before_commit=before_commit,
            site_users_only=job["kind"] != "undo",  # an undo brings back our own export
        ).to_dict()

    return replace


def _run(config, engine, job, replace, step_aside, clock):
    folder = restorejobs.folder_of(config, job["id"])
    saved = []

    def prepare(conn):  # first in the load's transaction: save the site as it is replaced
        before = save_before(
            config, conn, job["site_id"], progress=_reporter(config, job, "saving")
        )
        saved.append(before.path)
        job["undo_export"] = before.path.name
        restorejobs.write_job(config, job)
        reached("restore-saved")
        add_mark(conn, job["commit_token"])

    paused = False
    try:
        summary = replace(
            job,
            prepare=prepare,
            progress=_reporter(config, job, "restoring"),
            before_commit=lambda: reached("restore-loaded"),
        )
        reached("restore-committed")
    except step_aside:
        # E.g. a whole-system restore began while the guard waited for the backup
        # lock (see app.tasks.siteimports): queue the job again, for the task to
        # run once that restore is over.
        paused = True
        for key in ("undo_export", "commit_token"):
            job.pop(key, None)
        job.update(state="queued", started_at=None, progress={"phase": None, "done": 0, "total": 0})
        restorejobs.write_job(config, job)
        restorejobs.job_store(config).release(job["id"])
        raise
    except Exception as exc:
        if not (saved and committed(engine, job["commit_token"])):
            for path in saved:
                path.unlink(missing_ok=True)
            job["undo_export"] = None
            ended = format_utc(clock(), "seconds")
            job.update(state="failed", error=failure_message(exc), finished_at=ended)
            restorejobs.write_job(config, job)
            return "failed"
        summary = restorejobs.settled_summary(job)["summary"]  # it went in; what failed came after
    finally:
        if not paused:
            (folder / restorejobs.UPLOAD).unlink(missing_ok=True)
    job.update(state="done", summary=summary, finished_at=format_utc(clock(), "seconds"))
    restorejobs.write_job(config, job)
    return "done"
