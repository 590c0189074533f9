"""What the backups page shows of each backup and each job, in words (the page and its script)."""

from flask import url_for

from app.backup import read_results, verification_overdue, webjobs
from app.backup.restore import restorability
from app.humanize import human_age, human_ago, human_size
from app.models import parse_utc

PHASES = {
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
    label, _steps = restorability(config, revision)
    return label, f"schema {revision}"


def last_verification(results, backup_id, now):
    """Return (word, detail) of a backup's last recorded verification, or ("never", "")."""
    result = results.get(backup_id)
    if result is None:
        return "never", ""
    when = parse_utc(result["verified_at"])
    detail = f"{when:%Y-%m-%d %H:%M} UTC, {human_ago((now - when).total_seconds())}"
    if verification_overdue(results, backup_id, now):
        detail += ", overdue"
    if not result.get("ok"):
        return "DAMAGED", f"{detail}: {result.get('error')}"
    if not result.get("authenticated"):
        return "intact", f"{detail}; not authenticated (format 1)"
    return "intact", f"{detail}; every checksum and the authentication tag match"


def backup_rows(config, status, jobs):
    """Return one dict per kept backup (newest first) for the page's table."""
    results = read_results(config)
    rows = []
    for info in status.backups:
        data = info.to_dict(status.checked_at)
        verifying = next(
            (
                j
                for j in jobs
                if j["kind"] == "verify"
                and j["backup_id"] == info.backup_id
                and j["state"] in webjobs.ACTIVE
            ),
            None,
        )
        rows.append(
            {
                "id": info.backup_id,
                "ok": info.ok,
                "damage": status.damage_of(info) if info in status.damaged else None,
                "age": human_age(data["age_seconds"]),
                "created_at": data["created_at"][:16].replace("T", " ") + " UTC",
                "size": info.size,
                "size_text": human_size(info.size),
                "rows": data["rows"],
                "files": data["files"],
                "revision": data["revision"],
                "restorable": restorable(config, info),
                "verification": last_verification(results, info.backup_id, status.checked_at),
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
            "verify": f"Backup {job['backup_id']} is DAMAGED",
            "rollback": f"Rolling back {job['subdomain']} failed (the site is as it was)",
        }[kind]
        return f"{what}: {job['error']}"
    if kind == "backup":
        if result.get("created"):
            return f"Backup {result['backup_id']} made: {human_size(result['size'])}."
        return f"Nothing changed since backup {result.get('backup_id')}: it is still current."
    if kind == "verify":
        checked = (
            "every checksum and the authentication tag match"
            if result.get("authenticated")
            else "every checksum matches (not authenticated: format 1)"
        )
        return f"Backup {job['backup_id']} is intact: {result.get('members')} members, {checked}."
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
