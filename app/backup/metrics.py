"""``GET /metrics``: the status model in the Prometheus text format, for the monitoring one runs.

Every value comes from ``app.backup.status.backup_status`` (the data dir: it
answers while the database and the broker are down), except the export jobs
by state, which live in the database: when it is down they are left out and
``stinkykitty_database_up`` is 0. A time that does not exist yet (no backup,
no off-site copy) reads 0, so that an alert on its age fires.
"""

import logging

import sqlalchemy as sa

from app.backup.notify import overview
from app.backup.offsite import offsite_enabled, read_record
from app.backup.status import backup_status, current_problems
from app.models import ExportJob, parse_utc

log = logging.getLogger(__name__)

# Every code a check of app.backup.status gives; a code not listed here still shows when present.
PROBLEM_CODES = (
    "restore-interrupted",
    "no-backup",
    "stale",
    "last-run-failed",
    "damaged",
    "unrestorable",
    "offsite-failed",
    "offsite-damaged",
)
EXPORT_STATES = ("queued", "running", "ready", "failed")
GOOD_OUTCOMES = ("ok", "unchanged")


def _seconds(moment):
    """Return a naive UTC datetime as seconds since the epoch (0 for None)."""
    if moment is None:
        return 0.0
    return (moment - parse_utc("1970-01-01T00:00:00Z")).total_seconds()


def _newest_offsite(config):
    copies = read_record(config)["copies"].values() if offsite_enabled(config) else ()
    times = [parse_utc(c["created_at"]) for c in copies if c.get("created_at")]
    return max(times, default=None)


def export_counts(engine):
    """Return {state: count} of the export jobs, or None when the database cannot be read."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(ExportJob.state, sa.func.count()).group_by(ExportJob.state)
            ).all()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("metrics: export jobs left out, the database is down: %s", exc)
        return None
    return {state: count for state, count in rows}


def _backup_gauges(status):
    newest, run = status.newest, status.decisive_run
    return [
        ("backup_healthy", "1 when no check finds a problem, else 0", float(status.ok)),
        (
            "backup_newest_timestamp_seconds",
            "When the newest good backup was made (0: there is none)",
            _seconds(newest.created_at if newest else None),
        ),
        (
            "backup_last_success_timestamp_seconds",
            "When the newest good backup was last confirmed current (0: never)",
            _seconds(status.last_success),
        ),
        (
            "backup_newest_size_bytes",
            "Size of the newest good backup",
            newest.size if newest else 0,
        ),
        ("backup_count", "Good backups kept", len(status.good)),
        ("backup_damaged_count", "Kept backups that are damaged", len(status.damaged)),
        (
            "backup_total_size_bytes",
            "Size of all kept backups",
            sum(i.size for i in status.backups),
        ),
        ("backup_free_disk_bytes", "Free space where the backups are kept", status.free_bytes),
        (
            "backup_last_run_duration_seconds",
            "Duration of the last run that did anything (not skipped)",
            (run or {}).get("duration") or 0,
        ),
        (
            "backup_last_run_success",
            "1 when the last run that did anything succeeded, else 0",
            float(bool(run) and run["outcome"] in GOOD_OUTCOMES),
        ),
    ]


def gauges(config, engine, *, clock=None):
    """Return [(name, help, value or {labels: value})]: every gauge of ``/metrics``."""
    status = backup_status(config, **({"clock": clock} if clock else {}))
    problems = current_problems(status)
    codes = [*PROBLEM_CODES, *(code for code in problems if code not in PROBLEM_CODES)]
    found = _backup_gauges(status)
    found.append(
        (
            "offsite_newest_timestamp_seconds",
            "When the backup of the newest off-site copy was made (0: none)",
            _seconds(_newest_offsite(config)),
        )
    )
    found.append(
        (
            "backup_problem",
            "1 while the status model has a problem of this code, else 0",
            {(("code", code),): float(code in problems) for code in codes},
        )
    )
    told = overview(config)
    if told["urls"]:
        failure, last = told["last_failure"], told["last_message"] or {}
        failed = bool(failure) and failure["at"] == last.get("at")
        doc = "1 when the last notification did not reach every URL, else 0"
        found.append(("notify_last_delivery_failed", doc, float(failed)))
    exports = export_counts(engine)
    found.append(
        ("database_up", "1 when the database answered, else 0", float(bool(exports is not None)))
    )
    if exports is not None:
        states = [*EXPORT_STATES, *(s for s in exports if s not in EXPORT_STATES)]
        counts = {(("state", s),): float(exports.get(s, 0)) for s in states}
        found.append(("exports", "Site export jobs by state", counts))
    return found


def render(config, engine, *, clock=None):
    """Return (body bytes, content type) of ``/metrics``."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    class Snapshot:
        def collect(self):
            for name, doc, value in gauges(config, engine, clock=clock):
                if isinstance(value, dict):
                    labels = [key for key, _ in next(iter(value))]
                    family = GaugeMetricFamily(f"stinkykitty_{name}", doc, labels=labels)
                    for key, number in value.items():
                        family.add_metric([v for _, v in key], number)
                else:
                    family = GaugeMetricFamily(f"stinkykitty_{name}", doc, value=float(value))
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    return generate_latest(registry), CONTENT_TYPE_LATEST
