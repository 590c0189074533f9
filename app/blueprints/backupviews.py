"""What the backups page shows of each backup and each job, in words (the page and its script)."""

from flask import url_for

from app.archive.space import human_size
from app.backup import upgrade, webjobs
from app.models.types import human_age

PHASES = {
    "dump": "dumping tables",
    "write": "writing the archive",
    "verify": "checking",
    "extract": "reading the backup",
    "load": "loading",
}


def restorable(config, info):
    """Return (label, detail): whether this app restores the backup ``info`` (yes / through
    migrations (N steps) / no), from the schema chain this app knows (no database needed)."""
    if not info.ok:
        return "no: damaged", info.error
    revision = info.manifest["database"].get("revision")
    label, _steps = upgrade.restorability(config, revision)
    return label, f"schema {revision}"


def verification(job):
    """Return (word, detail) of the last verification job of a backup, or ("never", "")."""
    if job is None:
        return "never", ""
    when = (job["finished_at"] or job["created_at"])[:16].replace("T", " ") + " UTC"
    if job["state"] == "done":
        return "intact", f"{when}: every checksum matches"
    return "FAILED", f"{when}: {job['error']}"


def backup_rows(config, status, jobs):
    """Return one dict per kept backup (newest first) for the page's table."""
    rows = []
    for info in status.backups:
        data = info.to_dict(status.checked_at)
        last = next(
            (j for j in jobs if j["kind"] == "verify" and j["backup_id"] == info.backup_id
             and j["state"] in ("done", "failed")),
            None,
        )  # fmt: skip
        verifying = next(
            (j for j in jobs if j["kind"] == "verify" and j["backup_id"] == info.backup_id
             and j["state"] in webjobs.ACTIVE),
            None,
        )  # fmt: skip
        rows.append(
            {
                "id": info.backup_id,
                "ok": info.ok,
                "error": info.error,
                "age": human_age(data["age_seconds"]),
                "created_at": data["created_at"][:16].replace("T", " ") + " UTC",
                "size": info.size,
                "size_text": human_size(info.size),
                "rows": data["rows"],
                "files": data["files"],
                "revision": data["revision"],
                "restorable": restorable(config, info),
                "verification": verification(last),
                "verifying": verifying is not None,
                "verify_url": url_for("backups.verify", backup_id=info.backup_id),
                "sites_url": url_for("backups.sites", backup_id=info.backup_id),
                "download_url": None,
            }
        )
    return rows


def _progress_text(job):
    p = job["progress"] or {}
    if job["state"] == "queued":
        return "Waiting for a worker…"
    phase = PHASES.get(p.get("phase"), "starting")
    if p.get("total"):
        return f"Running: {phase} ({p['done']} / {p['total']})…"
    return f"Running: {phase}…"


def job_message(job):
    """Return the sentence the page shows for ``job``."""
    kind, state, result = job["kind"], job["state"], job["result"] or {}
    if state in webjobs.ACTIVE:
        return _progress_text(job)
    if state == "failed":
        what = {
            "backup": "Backup failed",
            "verify": f"Backup {job['backup_id']} FAILED verification",
            "rollback": f"Rolling back {job['subdomain']} failed (the site is as it was)",
        }[kind]
        return f"{what}: {job['error']}"
    if kind == "backup":
        if result.get("created"):
            return f"Backup {result['backup_id']} made: {human_size(result['size'])}."
        return f"Nothing changed since backup {result.get('backup_id')}: it is still current."
    if kind == "verify":
        return (
            f"Backup {job['backup_id']} is intact: {result.get('members')} members, "
            "every checksum matches."
        )
    counts = result.get("counts", {})
    return (
        f"Site {job['subdomain']} rolled back to backup {job['backup_id']}: "
        f"{counts.get('pages', 0)} pages, {counts.get('media', 0)} media."
    )


def job_status(job):
    """Return the JSON a job's status URL answers."""
    return {
        "job_id": job["id"],
        "kind": job["kind"],
        "state": job["state"],
        "backup_id": job["backup_id"],
        "subdomain": job["subdomain"],
        "progress": job["progress"],
        "error": job["error"],
        "result": job["result"],
        "created_at": job["created_at"],
        "finished_at": job["finished_at"],
        "message": job_message(job),
        "status_url": url_for("backups.job", job_id=job["id"]),
    }
