""" "Restore from an export file": the job records, the upload and its preview, the undo.

A job is a folder ``backups/site-imports/<job id>/`` with the uploaded export
(``upload.tar.gz``) and ``job.json``, its record, kept by the crash-consistent
job store (``app.jobstore``). It moves ``uploaded -> queued -> running -> done
| failed``: uploaded and previewed, confirmed by the user, claimed by one worker
and run (``app.exports.restorerun``), finished. The run first exports the site
exactly as it replaces it, so that "Undo restore" brings it back with a job of
its own (``request_undo``) while that file is kept (``EXPORT_RETENTION``); the
undo is this server's own file and is not held to the upload limits. A job
whose worker died reads what really happened: done with its undo when its
transaction committed, else failed with the site as it was. A job belongs to
the site it was uploaded for, and only ever changes that site.
"""

import functools
import os
import shutil
import time
from datetime import timedelta

from app.archive import ArchiveError
from app.config import data_path
from app.exports import uploads
from app.exports.errors import ExportError
from app.exports.export import exports_dir
from app.exports.siteimport import inspect_export
from app.exports.uploads import UploadRefused
from app.jobstore import JOB_ID, JobStore, app_engine, settle
from app.models import format_utc, parse_utc, utcnow
from app.sitedata import InvalidSiteData

__all__ = ["JOB_ID"]
UPLOAD = "upload.tar.gz"
NOT_AN_EXPORT = "it is not a site export made by StinkyKitty, or it is damaged"
STUCK = "The restore stopped before it finished (the worker was restarted); the site is as it was."


class JobStateError(ExportError):
    """The job is not in a state that allows this step."""


def imports_dir(config):
    """Return the folder of restore jobs."""
    return data_path(config, "backups", "site-imports")


def job_store(config):
    """Return the job store of restore jobs."""
    return JobStore(imports_dir(config), folders=True)


def folder_of(config, job_id):
    """Return the folder of job ``job_id``."""
    return job_store(config).folder(job_id)


def settled_summary(job):
    """The outcome of a job that committed but whose worker died before it said so."""
    counts = (job.get("preview") or {}).get("counts") or {}
    return {"summary": {"counts": counts, "notes": [], "settled": True}}


def _drop_undo(config):
    def failed(job):  # what a job that did not commit saved is no state of the site
        if undo_available(config, {**job, "state": "done"}):
            (exports_dir(config) / job["undo_export"]).unlink(missing_ok=True)
        return {"undo_export": None}

    return failed


def read_job(config, job_id, *, clock=utcnow, engine=None):
    """Return the record of job ``job_id``, or None.

    A job whose worker died reads what happened (``app.jobstore.settle``, through
    ``engine``, default the app's); one that cannot be settled (no database at
    hand) and still reads running long after EXPORT_STUCK_AFTER reads as failed.
    """
    store = job_store(config)
    job = settle(
        store,
        store.read(job_id),
        engine or app_engine(),
        lost=STUCK,
        done=settled_summary,
        failed=_drop_undo(config),
        clock=clock,
    )
    if job and job["state"] == "running" and not store.worker_alive(job_id):
        started = parse_utc(job["started_at"])
        if clock() - started > timedelta(seconds=config["EXPORT_STUCK_AFTER"]):
            job.update(state="failed", error=STUCK)
    return job


def write_job(config, job):
    """Store ``job``'s record atomically and durably."""
    job_store(config).write(job)


def latest_job(config, site_id):
    """Return the newest confirmed job of site ``site_id`` (what the site page shows), or None.

    An upload still waiting for its confirmation is no outcome of the site's;
    jobs of one second are told apart by the nanosecond they were made.
    """
    jobs = [read_job(config, job_id) for job_id in job_store(config).ids()]
    jobs = [j for j in jobs if j and j["site_id"] == site_id and j["state"] != "uploaded"]
    return max(jobs, key=lambda j: (j["created_at"], j.get("created_ns", 0), j["id"]), default=None)


def active_job(config, site_id, *, clock=utcnow):
    """Return the queued or running job of site ``site_id``, or None.

    A job queued longer than EXPORT_STUCK_AFTER that no worker took counts no more.
    """
    stuck = timedelta(seconds=config["EXPORT_STUCK_AFTER"])
    for job_id in job_store(config).ids():
        job = read_job(config, job_id, clock=clock)
        if not job or job["site_id"] != site_id or job["state"] not in ("queued", "running"):
            continue
        if job["state"] == "running" or clock() - parse_utc(job["created_at"]) <= stuck:
            return job
    return None


def new_job(config, site_id, user_id, kind, clock=utcnow):
    """Return a new job record of ``kind`` for site ``site_id`` (not stored yet: ``write_job``)."""
    job_id = job_store(config).new_id()
    return {
        "id": job_id,
        "site_id": site_id,
        "user_id": user_id,
        "kind": kind,
        "state": "uploaded",
        "created_at": format_utc(clock(), "seconds"),
        "started_at": None,
        "finished_at": None,
        "progress": {"phase": None, "done": 0, "total": 0},
        "error": None,
        "preview": None,
        "other_site": False,
        "undo_export": None,
        "summary": None,
        "created_ns": time.time_ns(),
    }


def _attach(config, job, subdomain, preview):
    """Store and return the job with the ``preview`` of its archive."""
    job["preview"] = preview
    job["other_site"] = preview["subdomain"] != subdomain
    write_job(config, job)
    return job


def _refusal(name, exc):
    """Return the owner's sentence for an upload the checks refused, naming their file ``name``.

    The reason is given in the owner's words where it has them; one that speaks
    of the archive's insides (its manifest) reads as "not an export, or damaged".
    """
    reason = str(exc).replace(f"{UPLOAD}: ", "").replace(UPLOAD, name)
    if "manifest" in reason:
        return f"{name} cannot be restored: {NOT_AN_EXPORT}."
    if isinstance(exc, InvalidSiteData):
        return f"{name} cannot be restored: {reason}."
    return f"{name} cannot be restored: it is damaged or not a site export ({reason})."


def receive_upload(
    config, site_id, subdomain, user_id, stream, *, length=None, name="the file", clock=utcnow
):
    """Store an uploaded export for site ``site_id`` from ``stream``; return the previewed job.

    ``name`` is the user's name of the file, for the messages. ``length`` is what
    the request declared (None: unknown). Bounded as
    ``app.exports.uploads`` says: size, disk, content read whole and checked,
    one upload per site at a time; once this one passed, the site's oldest
    unconfirmed uploads past ``SITE_IMPORT_MAX_PENDING`` and expired ones go.
    """
    root = imports_dir(config)
    with uploads.receiving(root, site_id):
        job = new_job(config, site_id, user_id, "upload", clock)
        job["received_ns"] = time.time_ns()  # orders the uploads of a site, oldest first
        folder = folder_of(config, job["id"])
        path = folder / UPLOAD
        try:
            uploads.write_upload(config, stream, path, declared=length)
            # Read whole and checked once: the limits, every checksum, the tag if it is ours.
            preview = inspect_export(config, path, key=uploads.claimed_key(config, path))
        except UploadRefused:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except (ArchiveError, ExportError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadRefused(_refusal(name, exc)) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job["file_name"] = name
        job = _attach(config, job, subdomain, preview.to_dict())
        jobs = functools.partial(read_job, config, clock=clock)
        uploads.keep_newest(config, root, site_id, jobs)
        uploads.expire_uploads(root, jobs, clock=clock)
    return job


def request_undo(config, job_id, user_id, subdomain, *, clock=utcnow):
    """Return a queued job restoring the export made before job ``job_id`` replaced the site."""
    done = read_job(config, job_id)
    if not undo_available(config, done):
        raise JobStateError("There is nothing to undo (the saved state has expired).")
    job = new_job(config, done["site_id"], user_id, "undo", clock)
    source = exports_dir(config) / done["undo_export"]
    target = folder_of(config, job["id"]) / UPLOAD
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    try:  # our own copy of the site: not held to the upload limits
        preview = inspect_export(config, target, trusted=True).to_dict()
    except (ArchiveError, ExportError) as exc:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise JobStateError(f"The saved state cannot be restored: {exc}") from None
    job.update(state="queued", preview=preview, other_site=preview["subdomain"] != subdomain)
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
    if not job_store(config).mark_once(job_id, "confirmed"):
        raise JobStateError("This upload was confirmed already.")
    job["state"] = "queued"
    write_job(config, job)
    return job


def fail_job(config, job_id, message, *, clock=utcnow):
    """Mark a job failed with ``message`` (e.g. when it could not be queued)."""
    job = read_job(config, job_id)
    if job is not None:
        job.update(state="failed", error=message, finished_at=format_utc(clock(), "seconds"))
        write_job(config, job)


def sweep_restore_jobs(config, *, clock=utcnow):
    """Delete job folders older than EXPORT_RETENTION; return their ids."""
    store = job_store(config)
    cutoff = clock() - timedelta(seconds=config["EXPORT_RETENTION"])
    removed = []
    for job_id in store.ids():
        job = read_job(config, job_id)
        created = job and parse_utc(job["created_at"])
        if created and created < cutoff and job["state"] not in ("queued", "running"):
            store.remove(job_id)
            removed.append(job_id)
    return removed
