"""Are backups healthy? One answer for ``flask backup status``, ``GET /healthz`` and the dashboard.

Backups are unhealthy when the newest good backup was last confirmed longer
ago than ``BACKUP_MAX_AGE`` (default 26 h; a run that finds nothing changed
confirms it again), when there is none, or when the last run that did
anything failed or was interrupted. A run skipped because another one held
the lock neither helps nor hurts: the age check catches a lock that never
frees. Everything is read from the data dir, so the answer comes while the
broker and the database are down.
"""

import shutil

from app.archive.space import human_size
from app.backup import catalog
from app.backup.lock import lock_holder
from app.backup.runs import recent_runs
from app.backup.verification import damaged_problems
from app.models.types import utcnow

DEFAULT_MAX_AGE = 26 * 3600
DECISIVE = ("ok", "unchanged", "failed", "interrupted")
RUNS_LOOKED_AT = 50
# What backup_health adds to system.backup_status's facts.
VERDICT_KEYS = ("ok", "problems", "warnings", "last_run", "last_failure")

_infos = {}  # (path, size, mtime_ns) -> BackupInfo: reading a manifest costs a gunzip


def _read_info_cached(path):
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    info = _infos.get(key)
    if info is None:
        info = catalog.read_info(path)
        if len(_infos) > 32:
            _infos.clear()
        _infos[key] = info
    return info


def newest_good_backup(config):
    """Return the BackupInfo of the newest readable backup, or None."""
    folder = catalog.backups_dir(config)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("stinkykitty-*" + catalog.SUFFIX), reverse=True):
        if not catalog.ID_PATTERN.match(path.name[: -len(catalog.SUFFIX)]):
            continue
        try:
            info = _read_info_cached(path)
        except FileNotFoundError:
            continue  # deleted meanwhile
        if info.ok:
            return info
    return None


def _problem(code, label, message, summary):
    return {"code": code, "label": label, "message": message, "summary": summary}


def _run_summary(run):
    if run is None:
        return None
    keys = ("outcome", "trigger", "started_at", "ended_at", "backup_id", "size", "duration")
    keys += ("pruned", "reason", "error", "task_id")
    return {key: run.get(key) for key in keys}


def backup_health(config, *, clock=utcnow):
    """Return the health of the backups as a dict; ``ok`` is False when stale or failing.

    Keys: ok, problems (each code, label, message, summary), warnings,
    newest_backup (id, created_at, age_seconds), last_success_at, age_seconds,
    max_age_seconds, last_run, last_failure, running.
    """
    now = clock()
    max_age = int(config.get("BACKUP_MAX_AGE", DEFAULT_MAX_AGE))
    newest = newest_good_backup(config)
    last_success = age = None
    if newest is not None:
        last_success = newest.created_at
        note = catalog.read_current_note(config)
        if note and note["backup_id"] == newest.backup_id:
            last_success = max(last_success, note["checked_at"])
        age = (now - last_success).total_seconds()

    runs = recent_runs(config, limit=RUNS_LOOKED_AT, clock=clock)
    decisive = next((r for r in runs if r["outcome"] in DECISIVE), None)

    problems = []
    if newest is None:
        problems.append(
            _problem(
                "no-backup",
                "STALE",
                f"no good backup in {catalog.backups_dir(config)}; "
                "run `flask backup create` and check that the worker and beat run",
                "there is no good backup",
            )
        )
    elif age > max_age:
        problems.append(
            _problem(
                "stale",
                "STALE",
                f"the newest good backup ({newest.backup_id}) was last confirmed "
                f"{age / 3600:.1f} h ago, more than the {max_age / 3600:g} h allowed; check "
                "that the worker and beat run (`flask backup status` shows the last run)",
                f"the newest good backup is {age / 3600:.1f} h old (limit {max_age / 3600:g} h)",
            )
        )
    if decisive is not None and decisive["outcome"] in ("failed", "interrupted"):
        when = decisive.get("ended_at") or decisive.get("started_at")
        problems.append(
            _problem(
                "last-run-failed",
                "FAILING",
                f"the last backup run ({decisive.get('trigger')}, {when}) "
                f"{'failed' if decisive['outcome'] == 'failed' else 'did not finish'}: "
                f"{decisive.get('error')}",
                f"the last backup run failed ({decisive.get('reason')})",
            )
        )
    problems += damaged_problems(config)  # backups whose last full verification failed

    warnings = []
    folder = catalog.backups_dir(config)
    if newest is not None and folder.is_dir():
        free = shutil.disk_usage(folder).free
        if free < newest.size:
            warnings.append(
                f"only {human_size(free)} free on {folder}, less than the newest backup "
                f"({human_size(newest.size)}): the next backup of changed content will fail"
            )

    return {
        "ok": not problems,
        "problems": problems,
        "warnings": warnings,
        "newest_backup": (
            {
                "id": newest.backup_id,
                "created_at": catalog.format_time(newest.created_at),
                "age_seconds": round((now - newest.created_at).total_seconds(), 3),
            }
            if newest
            else None
        ),
        "last_success_at": catalog.format_time(last_success) if last_success else None,
        "age_seconds": round(age, 3) if age is not None else None,
        "max_age_seconds": max_age,
        "last_run": _run_summary(runs[0] if runs else None),
        "last_failure": _run_summary(
            next((r for r in runs if r["outcome"] in ("failed", "interrupted")), None)
        ),
        "running": lock_holder(config),
    }


def public_health(health):
    """Return the part of ``health`` fit for an unauthenticated monitor: no paths, no errors."""
    last = health["last_run"]
    return {
        "ok": health["ok"],
        "status": "ok" if health["ok"] else health["problems"][0]["code"],
        "newest_backup": (
            {
                "id": health["newest_backup"]["id"],
                "age_seconds": health["newest_backup"]["age_seconds"],
                "confirmed_seconds_ago": health["age_seconds"],
            }
            if health["newest_backup"]
            else None
        ),
        "last_run": (
            {
                "outcome": last["outcome"],
                "reason": last["reason"],
                "started_at": last["started_at"],
                "ended_at": last["ended_at"],
            }
            if last
            else None
        ),
        "reason": "; ".join(p["summary"] for p in health["problems"]) or None,
    }
