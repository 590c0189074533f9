"""How are the backups? One model for ``flask backup status``, ``GET /healthz`` and the banner.

``backup_status(config)`` gathers every fact about the system backups into
one ``BackupStatus`` (count, sizes, free disk, the newest good backup and when
it was last confirmed, the last run and the last failure, what runs now,
maintenance mode, leftovers, the next scheduled run), then asks each check in
``PROBLEM_CHECKS`` and ``WARNING_CHECKS`` what is wrong. The command prints
it (``to_dict`` for ``--json``), ``/healthz`` answers ``public_dict`` (no
paths, no error texts) and the dashboard banner lists ``problems``.

Backups are unhealthy (``ok`` is False) when any check finds a problem: no
good backup, the newest good one last confirmed longer ago than
``BACKUP_MAX_AGE`` (a run that finds nothing changed confirms it again), or
the last run that did anything failed or was interrupted. A run skipped
because another one held the lock neither helps nor hurts: the age check
catches a lock that never frees. Everything is read from the data dir, so the
answer comes while the broker and the database are down.

To add a problem: write a function ``(status, config) -> Problem | None``
below and append it to ``PROBLEM_CHECKS``; a new fact it needs goes into
``BackupStatus`` (and ``to_dict``) and is filled in ``backup_status``.
"""

import dataclasses
import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from app.backup import catalog
from app.backup.catalog import BackupInfo
from app.backup.offsite import known_good_copies, offsite_enabled, offsite_problem
from app.backup.restore import journal_problems, restorability_report
from app.backup.runlog import recent_runs
from app.backup.schedule import next_run
from app.backup.verification import damaged_ids, damaged_problems
from app.config import data_path
from app.coordination import lock_holder, maintenance_state
from app.humanize import human_size
from app.models import format_utc, utcnow

# Outcomes that say whether the backups work; "skipped" and "running" say nothing yet.
DECISIVE = ("ok", "unchanged", "failed", "interrupted")
FAILED = ("failed", "interrupted")
RUNS_LOOKED_AT = 50
RUN_KEYS = tuple(
    """
    outcome trigger started_at ended_at backup_id size duration pruned reason error task_id
    offsite notify_error heartbeat_error
    """.split()
)


@dataclass(frozen=True)
class Problem:
    """Why backups need attention: ``message`` for admins, ``summary`` for a public monitor."""

    code: str  # stable, for monitors: "no-backup", "stale", "last-run-failed", ...
    label: str  # the word in front of the message: STALE, FAILING, ...
    message: str  # what is wrong and what to do (may name paths and errors)
    summary: str  # the same without paths or error texts (GET /healthz shows it)


@dataclass
class BackupStatus:
    """Every fact about the system backups at ``checked_at``, and what is wrong with them."""

    checked_at: dt.datetime  # naive UTC
    folder: Path
    backups: list[BackupInfo]  # newest first, damaged ones included
    free_bytes: int
    last_success: dt.datetime | None  # when the newest good backup was last confirmed current
    max_age_seconds: int
    runs: list[dict]  # the recent run records, newest first
    running: dict | None  # the holder of the backup lock
    maintenance: dict | None
    old_media_folders: list[Path]  # left by interrupted restores (never deleted automatically)
    next_run: dt.datetime | None  # aware UTC
    schedule_error: str | None = None
    restorability: dict | None = (
        None  # app.backup.restore.upgrade.restorability_report of the backups
    )
    failed_verification: dict = field(default_factory=dict)  # backup id -> why (verification)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self):
        """Whether no check found a problem."""
        return not self.problems

    @property
    def good(self):
        """The intact backups, newest first: readable, and not failed by their last verification."""
        return [i for i in self.backups if i.ok and i.backup_id not in self.failed_verification]

    @property
    def damaged(self):
        """The archives whose manifest cannot be read or whose last verification failed."""
        return [i for i in self.backups if not i.ok or i.backup_id in self.failed_verification]

    def damage_of(self, info):
        """Return why a damaged backup is damaged."""
        return info.error or self.failed_verification.get(info.backup_id)

    @property
    def newest(self):
        """The newest good backup, or None."""
        return next(iter(self.good), None)

    @property
    def age_seconds(self):
        """Seconds since the newest good backup was last confirmed, or None."""
        if self.last_success is None:
            return None
        return (self.checked_at - self.last_success).total_seconds()

    @property
    def last_run(self):
        """The newest run record, or None."""
        return next(iter(self.runs), None)

    @property
    def last_failure(self):
        """The newest failed or interrupted run record, or None."""
        return next((r for r in self.runs if r["outcome"] in FAILED), None)

    @property
    def decisive_run(self):
        """The newest run that said whether backups work (not skipped, not running), or None."""
        return next((r for r in self.runs if r["outcome"] in DECISIVE), None)

    @property
    def stale_problem(self):
        """The problem saying there is no recent good backup, or None."""
        return next((p for p in self.problems if p.code in ("no-backup", "stale")), None)

    def to_dict(self):
        """Return every fact as JSON-ready data (``flask backup status --json``)."""
        newest, stale = self.newest, self.stale_problem
        return {
            "ok": self.ok,
            "problems": [dataclasses.asdict(p) for p in self.problems],
            "warnings": list(self.warnings),
            "count": len(self.good),
            "damaged": [{"id": i.backup_id, "error": self.damage_of(i)} for i in self.damaged],
            "total_size": sum(i.size for i in self.backups),
            "free_bytes": self.free_bytes,
            "folder": str(self.folder),
            "newest": newest.to_dict(self.checked_at) if newest else None,
            "last_success_at": format_utc(self.last_success) if self.last_success else None,
            "age_seconds": _round(self.age_seconds),
            "max_age_seconds": self.max_age_seconds,
            "stale": stale is not None,
            "reason": stale.message if stale else None,
            "last_run": _run_summary(self.last_run),
            "last_failure": _run_summary(self.last_failure),
            "running": self.running,
            "maintenance": self.maintenance,
            "old_media_folders": [str(p) for p in self.old_media_folders],
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "schedule_error": self.schedule_error,
            "restorability": {
                key: self.restorability[key]
                for key in ("restorable", "through_migrations", "not_restorable")
            },
        }

    def public_dict(self):
        """Return what an anonymous monitor may see (``GET /healthz``): no paths, no errors."""
        newest, last = self.newest, self.last_run
        return {
            "ok": self.ok,
            "status": self.problems[0].code if self.problems else "ok",
            "newest_backup": (
                {
                    "id": newest.backup_id,
                    "age_seconds": _round((self.checked_at - newest.created_at).total_seconds()),
                    "confirmed_seconds_ago": _round(self.age_seconds),
                }
                if newest
                else None
            ),
            "last_run": (
                {key: last.get(key) for key in ("outcome", "reason", "started_at", "ended_at")}
                if last
                else None
            ),
            "reason": "; ".join(p.summary for p in self.problems) or None,
        }


def _round(seconds):
    return None if seconds is None else round(seconds, 3)


def _run_summary(run):
    return None if run is None else {key: run.get(key) for key in RUN_KEYS}


# --- the facts ----------------------------------------------------------------------

# (path, size, mtime_ns) -> BackupInfo: reading a manifest costs a gunzip
_infos: dict[tuple[str, int, int], BackupInfo] = {}


def _read_info_cached(path):
    """Return ``catalog.read_info(path)``, remembered while the file stays the same."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    info = _infos.get(key)
    if info is None:
        info = catalog.read_info(path)  # its manifest without the list of every member
        if len(_infos) > 32:
            _infos.clear()
        _infos[key] = info
    return info


def _read_backups(config):
    """Return the BackupInfo of every archive in the backups folder, newest first."""
    infos = []
    for path in catalog.backup_files(config):
        try:
            infos.append(_read_info_cached(path))
        except FileNotFoundError:
            continue  # deleted meanwhile
    return infos


def _last_success(config, newest):
    """Return when ``newest`` was last confirmed current: made, or found unchanged since."""
    if newest is None:
        return None
    note = catalog.read_current_note(config)
    if note and note["backup_id"] == newest.backup_id:
        return max(newest.created_at, note["checked_at"])
    return newest.created_at


def backup_status(config, *, clock=utcnow):
    """Return the BackupStatus of the system backups now: every fact, its problems and warnings."""
    now = clock()
    folder = catalog.backups_dir(config)
    backups = _read_backups(config)
    failed = damaged_ids(config)
    newest = next((i for i in backups if i.ok and i.backup_id not in failed), None)
    try:
        upcoming, schedule_error = next_run(config, now), None
    except ValueError as exc:
        upcoming, schedule_error = None, str(exc)
    status = BackupStatus(
        checked_at=now,
        folder=folder,
        backups=backups,
        free_bytes=shutil.disk_usage(folder if folder.exists() else data_path(config)).free,
        last_success=_last_success(config, newest),
        max_age_seconds=int(config["BACKUP_MAX_AGE"]),
        runs=recent_runs(config, limit=RUNS_LOOKED_AT, clock=clock),
        running=lock_holder(config),
        maintenance=maintenance_state(config),
        old_media_folders=catalog.old_media_folders(config),
        next_run=upcoming,
        schedule_error=schedule_error,
        restorability=restorability_report(config, backups),
        failed_verification=failed,
    )
    status.problems = [p for check in PROBLEM_CHECKS if (p := check(status, config))]
    status.warnings = [w for check in WARNING_CHECKS if (w := check(status, config))]
    return status


# --- the problems (add one: a function here, a line in PROBLEM_CHECKS) ---------------


def no_backup(status, config):
    """There is no good backup at all."""
    if status.newest is not None:
        return None
    return Problem(
        "no-backup",
        "STALE",
        "no good backup (none made yet, or every one is damaged); "
        "run `flask backup create` and check that the worker and beat run",
        "there is no good backup",
    )


def stale_backup(status, config):
    """The newest good backup was last confirmed longer ago than BACKUP_MAX_AGE."""
    age, max_age = status.age_seconds, status.max_age_seconds
    if age is None or age <= max_age:
        return None
    return Problem(
        "stale",
        "STALE",
        f"the newest good backup ({status.newest.backup_id}) was last confirmed "
        f"{age / 3600:.1f} h ago, more than the {max_age / 3600:g} h allowed; check "
        "that the worker and beat run (`flask backup status` shows the last run)",
        f"the newest good backup is {age / 3600:.1f} h old (limit {max_age / 3600:g} h)",
    )


def last_run_failed(status, config):
    """The last run that did anything failed or was interrupted."""
    run = status.decisive_run
    if run is None or run["outcome"] not in FAILED:
        return None
    when = run.get("ended_at") or run.get("started_at")
    ended = "failed" if run["outcome"] == "failed" else "did not finish"
    return Problem(
        "last-run-failed",
        "FAILING",
        f"the last backup run ({run.get('trigger')}, {when}) {ended}: {run.get('error')}",
        f"the last backup run failed ({run.get('reason')})",
    )


def restore_interrupted(status, config):
    """A restore was interrupted and no process has finished or undone it yet."""
    found = journal_problems(config)
    return Problem(**found[0]) if found else None


def damaged_backups(status, config):
    """Kept backups whose last full verification failed: not counted, to be replaced."""
    found = damaged_problems(  # one per backup, newest first; the advice names what exists
        status.failed_verification,
        intact=status.newest.backup_id if status.newest else None,
        offsite_copies=known_good_copies(config) if offsite_enabled(config) else (),
    )
    if not found:
        return None
    return Problem(
        "damaged",
        "DAMAGED",
        "; ".join(p["message"] for p in found),
        "; ".join(p["summary"] for p in found),
    )


def unrestorable(status, config):
    """No good backup can be restored by this app (all were made by a newer StinkyKitty)."""
    problem = status.restorability["problem"]
    return Problem(**problem) if problem else None


def offsite_copies(status, config):
    """The last off-site copy failed, or a remote copy failed its check (app.backup.offsite)."""
    found = offsite_problem(config)
    return Problem(**found) if found else None


PROBLEM_CHECKS = (
    restore_interrupted,
    no_backup,
    stale_backup,
    last_run_failed,
    damaged_backups,
    unrestorable,
    offsite_copies,
)


# --- the warnings: worth saying, not (yet) unhealthy -----------------------------------


def low_disk(status, config):
    """Less space is free than the newest backup takes: the next changed backup will fail."""
    newest = status.newest
    if newest is None or status.free_bytes >= newest.size:
        return None
    return (
        f"only {human_size(status.free_bytes)} free on {status.folder}, less than the newest "
        f"backup ({human_size(newest.size)}): the next backup of changed content will fail"
    )


def newer_backups(status, config):
    """Some good backups were made by a newer StinkyKitty and cannot be restored by this one."""
    return "; ".join(status.restorability["warnings"]) or None


WARNING_CHECKS = (low_disk, newer_backups)


def current_problems(status):
    """Return the problems of ``status`` by their stable code (one per kind), in check order."""
    found = {}
    for problem in status.problems:
        found.setdefault(problem.code, problem)
    return found
