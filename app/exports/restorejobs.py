""" "Restore from an export file": the upload, its preview, the job replacing the site, undo.

A job is a folder ``backups/site-imports/<job id>/`` with the uploaded export
(``upload.tar.gz``) and ``job.json``, its record. It moves
``uploaded -> queued -> running -> done | failed``: uploaded and previewed,
confirmed by the user, claimed by one worker (a file created with O_EXCL, so a
task delivered twice runs once), finished. The job first exports the site as it
is (a plain site export, kept ``EXPORT_RETENTION`` like any other), so that
"Undo restore" can bring it back with a job of its own while that file is kept.
A job belongs to the site it was uploaded for, and only ever changes that site.
"""

import functools
import json
import os
import re
import secrets
import shutil
import time
from datetime import timedelta

from app.archive.errors import ArchiveError, NotEnoughSpace
from app.config import data_path
from app.exports import uploads
from app.exports.archive import export_site, exports_dir
from app.exports.siteimport import import_site, inspect_export
from app.exports.uploads import UploadRefused
from app.models.types import format_utc, parse_utc, utcnow

JOB_ID = re.compile(r"[0-9a-f]{16}")
UPLOAD = "upload.tar.gz"
STUCK = "The restore stopped before it finished (the worker was restarted); the site is as it was."


class JobStateError(ArchiveError):
    """The job is not in a state that allows this step."""


def imports_dir(config):
    """Return the folder of restore jobs."""
    return data_path(config, "backups", "site-imports")


def _folder(config, job_id):
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return None
    return imports_dir(config) / job_id


def read_job(config, job_id, *, clock=utcnow):
    """Return the record of job ``job_id``, or None; a job stuck running reads as failed."""
    folder = _folder(config, job_id)
    try:
        job = json.loads((folder / "job.json").read_text()) if folder else None
    except (OSError, ValueError):
        return None
    if job and job["state"] == "running" and job.get("started_at"):
        started = parse_utc(job["started_at"])
        if clock() - started > timedelta(seconds=config["EXPORT_STUCK_AFTER"]):
            job.update(state="failed", error=STUCK)
    return job


def write_job(config, job):
    """Store ``job``'s record atomically."""
    folder = _folder(config, job["id"])
    tmp = folder / f".job.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(job))
    os.replace(tmp, folder / "job.json")


def latest_job(config, site_id):
    """Return the newest job of site ``site_id``, or None."""
    folder = imports_dir(config)
    if not folder.is_dir():
        return None
    jobs = [read_job(config, p.name) for p in folder.iterdir() if JOB_ID.fullmatch(p.name)]
    jobs = [j for j in jobs if j and j["site_id"] == site_id]
    return max(jobs, key=lambda j: (j["created_at"], j["id"]), default=None)


def _new_job(config, site_id, user_id, kind, clock):
    job_id = secrets.token_hex(8)
    folder = imports_dir(config) / job_id
    folder.mkdir(parents=True)
    return {
        "id": job_id, "site_id": site_id, "user_id": user_id, "kind": kind, "state": "uploaded",
        "created_at": format_utc(clock(), "seconds"), "started_at": None, "finished_at": None,
        "progress": {"phase": None, "done": 0, "total": 0}, "error": None, "preview": None,
        "other_site": False, "undo_export": None, "summary": None,
    }  # fmt: skip


def _attach(config, job, subdomain):
    """Preview the job's archive; store and return the job, or remove it and raise."""
    folder = _folder(config, job["id"])
    try:
        preview = inspect_export(config, folder / UPLOAD).to_dict()
    except ArchiveError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise UploadRefused(f"This file cannot be restored: {exc}") from None
    job["preview"] = preview
    job["other_site"] = preview["subdomain"] != subdomain
    write_job(config, job)
    return job


def receive_upload(config, site_id, subdomain, user_id, stream, *, length=None, clock=utcnow):
    """Store an uploaded export for site ``site_id`` from ``stream``; return the previewed job.

    ``length`` is what the request declared (None: unknown). Bounded as
    ``app.exports.uploads`` says: size, disk, content read whole and checked,
    one upload per site at a time; once this one passed, the site's oldest
    unconfirmed uploads past ``SITE_IMPORT_MAX_PENDING`` and expired ones go.
    """
    root = imports_dir(config)
    with uploads.receiving(root, site_id):
        job = _new_job(config, site_id, user_id, "upload", clock)
        job["received_ns"] = time.time_ns()  # orders the uploads of a site, oldest first
        folder = _folder(config, job["id"])
        path = folder / UPLOAD
        try:
            uploads.write_upload(config, stream, path, declared=length)
            inspect_export(config, path)  # the cheap checks first: an export, within the limits
            uploads.check_upload(config, path)
        except UploadRefused:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except ArchiveError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadRefused(f"This file cannot be restored: {exc}") from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = _attach(config, job, subdomain)
        jobs = functools.partial(read_job, config, clock=clock)
        uploads.keep_newest(config, root, site_id, jobs)
        uploads.expire_uploads(root, jobs, clock=clock)
    return job


def request_undo(config, job_id, user_id, subdomain, *, clock=utcnow):
    """Return a queued job restoring the export made before job ``job_id`` replaced the site."""
    done = read_job(config, job_id)
    if not undo_available(config, done):
        raise JobStateError("There is nothing to undo (the saved state has expired).")
    job = _new_job(config, done["site_id"], user_id, "undo", clock)
    source = exports_dir(config) / done["undo_export"]
    target = _folder(config, job["id"]) / UPLOAD
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    job = _attach(config, job, subdomain)
    job["state"] = "queued"
    write_job(config, job)
    return job


def undo_available(config, job):
    """Return True when ``job`` replaced its site and the export it made first is still kept."""
    if not job or job["state"] != "done" or not job.get("undo_export"):
        return False
    name = job["undo_export"]
    return "/" not in name and (exports_dir(config) / name).is_file()


def confirm_job(config, job_id, *, allow_other_site):
    """Queue an uploaded job; return it. An export of another site needs ``allow_other_site``."""
    job = read_job(config, job_id)
    if job is None or job["state"] != "uploaded":
        raise JobStateError("This upload was confirmed already or is gone.")
    if job["other_site"] and not allow_other_site:
        raise JobStateError("This export is of another site; it was not restored.")
    try:
        os.close(os.open(_folder(config, job_id) / "confirmed", os.O_CREAT | os.O_EXCL, 0o640))
    except FileExistsError:
        raise JobStateError("This upload was confirmed already.") from None
    job["state"] = "queued"
    write_job(config, job)
    return job


def fail_job(config, job_id, message, *, clock=utcnow):
    """Mark a job failed with ``message`` (e.g. when it could not be queued)."""
    job = read_job(config, job_id)
    if job is not None:
        job.update(state="failed", error=message, finished_at=format_utc(clock(), "seconds"))
        write_job(config, job)


def failure_message(exc):
    """Return the sentence an owner sees for ``exc``."""
    if isinstance(exc, NotEnoughSpace):
        return "The server is short of disk space; the site is as it was. Try again later."
    if isinstance(exc, ArchiveError):
        return f"{exc}. The site is as it was."
    return "The restore failed on an unexpected error; the site is as it was. Tell us."


def run_restore_job(config, session, job_id, *, guard=None, step_aside=(), clock=utcnow):
    """Run queued job ``job_id`` if this caller claims it; return its final state (None: skipped).

    Saves the site as it is (an export, for undo), then replaces it with the
    uploaded export. ``guard(site_id)`` is held around the write (lock, maintenance);
    when it raises one of the exception types ``step_aside``, nothing is written:
    the job is queued again and the exception raised.
    """
    folder = _folder(config, job_id)
    job = read_job(config, job_id)
    if job is None or job["state"] != "queued":
        return None
    try:
        os.close(os.open(folder / "claimed", os.O_CREAT | os.O_EXCL, 0o640))
    except FileExistsError:
        return None
    job.update(state="running", started_at=format_utc(clock(), "seconds"))
    write_job(config, job)

    def progress(phase):
        def report(done, total):
            job["progress"] = {"phase": phase, "done": done, "total": total}
            write_job(config, job)

        return report

    before = None
    paused = False
    try:
        before = export_site(config, job["site_id"], progress=progress("saving"), session=session)
        session.rollback()  # end the export's read before the write
        job["undo_export"] = before.path.name
        write_job(config, job)
        summary = import_site(
            config, session.get_bind(), folder / UPLOAD, replace_site_id=job["site_id"],
            guard=guard, progress=progress("restoring"),
            site_users_only=job["kind"] != "undo",  # an undo brings back our own export
        )  # fmt: skip
    except step_aside:
        # E.g. a whole-system restore began while the guard waited for the backup
        # lock (see app.tasks.siteimports): queue the job again, for the task to
        # run once that restore is over.
        paused = True
        if before is not None:
            before.path.unlink(missing_ok=True)
        for key in ("undo_export", "progress", "started_at"):
            job.pop(key, None)
        job["state"] = "queued"
        write_job(config, job)
        (folder / "claimed").unlink(missing_ok=True)
        raise
    except Exception as exc:
        ended = format_utc(clock(), "seconds")
        job.update(state="failed", error=failure_message(exc), finished_at=ended)
        write_job(config, job)
        return "failed"
    finally:
        if not paused:
            (folder / UPLOAD).unlink(missing_ok=True)
    job.update(state="done", summary=summary.to_dict(), finished_at=format_utc(clock(), "seconds"))
    write_job(config, job)
    return "done"


def sweep_restore_jobs(config, *, clock=utcnow):
    """Delete job folders older than EXPORT_RETENTION; return their ids."""
    folder = imports_dir(config)
    if not folder.is_dir():
        return []
    cutoff = clock() - timedelta(seconds=config["EXPORT_RETENTION"])
    removed = []
    for path in folder.iterdir():
        job = read_job(config, path.name) if JOB_ID.fullmatch(path.name) else None
        created = job and parse_utc(job["created_at"])
        if created and created < cutoff and job["state"] not in ("queued", "running"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed
