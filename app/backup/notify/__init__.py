"""Someone is told: every problem of the status model reaches ``NOTIFY_URLS`` when it appears,
again at most every ``NOTIFY_REPEAT`` while it lasts, and once when it clears; so does every
restore, finished or failed, with who started it.

The pieces: ``channels`` (Apprise URLs, masking, delivery), ``messages`` (the
words), ``store`` (the record of what was told, beside the backups or in
Redis), ``check`` (the rule and the check that applies it), ``heartbeat``
(``NOTIFY_HEARTBEAT_URL``, fetched after every good run). This module is the
face the rest of the app uses: ``check`` runs from beat, cron
(``flask backup notify``), the web process and after every backup run;
``report_restore`` queues a restore's outcome and checks. A failure to notify
is logged and recorded, never raised into a backup or a restore.
"""

import contextlib
import logging

from app.backup.notify import channels, heartbeat, messages
from app.backup.notify.channels import notify_urls
from app.backup.notify.check import CheckResult, plan, remember, run_check
from app.backup.notify.store import store_for
from app.models import format_utc, utcnow

__all__ = [
    "BY_CLI",
    "CheckResult",
    "after_run",
    "by_page_user",
    "by_site_user",
    "check",
    "notify_urls",
    "overview",
    "plan",
    "report_restore",
    "restore_reported",
    "safe_check",
    "send_test",
]

log = logging.getLogger(__name__)

BY_CLI = "the command line"
RESTORE_WAIT = 30.0  # seconds a finished restore waits for a running check to tell it at once
GOOD_OUTCOMES = ("ok", "unchanged")


def check(config, **options):
    """Run the check now (see ``app.backup.notify.check.run_check``); return its CheckResult."""
    return run_check(config, **options)


def safe_check(config, **options):
    """Run the check; return None and log instead of raising if anything fails."""
    try:
        return run_check(config, **options)
    except Exception:
        log.exception("the notification check failed; the next one tries again")
        return None


def _failure_text(result):
    if result is None or not result.failures:
        return None
    return "; ".join(f"{d.url}: {d.error}" for d in result.failures)


def after_run(config, record, *, clock=utcnow):
    """Ping the heartbeat after a good run, then check; return the fields for the run record.

    ``notify_error`` and ``heartbeat_error`` say what could not be sent (None: all went).
    """
    fields = {}
    if record.get("outcome") in GOOD_OUTCOMES and config.get("NOTIFY_HEARTBEAT_URL"):
        fields["heartbeat_error"] = heartbeat.ping(config["NOTIFY_HEARTBEAT_URL"])
    if channels.notify_urls(config):
        try:
            fields["notify_error"] = _failure_text(run_check(config, clock=clock, wait=5.0))
        except Exception as exc:
            log.exception("the notification check after the backup run failed")
            fields["notify_error"] = f"{type(exc).__name__}: {exc}"
    return {key: value for key, value in fields.items() if value}


def user_email(engine, user_id):
    """Return the email of user ``user_id``, or "user #<id>" when it cannot be read."""
    import sqlalchemy as sa

    from app.models import User

    try:
        with engine.connect() as conn:
            email = conn.scalar(sa.select(User.email).where(User.id == user_id))
    except Exception:  # the database is the restore's business; the name is a nicety
        email = None
    return email or f"user #{user_id}"


def by_page_user(engine, user_id):
    """Return who started a restore from the backups page."""
    return f"{user_email(engine, user_id)} on the backups page"


def by_site_user(engine, user_id):
    """Return who started a restore of their site from its page (an owner, or a site admin)."""
    return f"{user_email(engine, user_id)} on the site's page"


def report_restore(config, event, *, clock=utcnow):
    """Queue a restore's outcome (``event``) for NOTIFY_URLS and send it now; never raise.

    ``event``: ``outcome`` ("finished" or "failed"), ``site`` (None: the whole
    system), ``backup_id`` or ``source``, ``started_by``, ``started_at``,
    ``error`` or ``detail``. Returns the CheckResult, or None.
    """
    if not channels.notify_urls(config):
        return None
    try:
        store_for(config).push({"at": format_utc(clock(), timespec="seconds"), **event})
    except Exception:
        log.exception("could not queue the notification of a restore")
        return None
    return safe_check(config, clock=clock, wait=RESTORE_WAIT)


@contextlib.contextmanager
def restore_reported(
    config, *, started_by, backup_id=None, site=None, source=None, clock=utcnow, step_aside=()
):
    """Report the restore run in the block as finished, or failed with its error's first line.

    An exception of a type in ``step_aside`` (the restore will run again later) is not reported.
    """
    event = {
        "started_by": started_by,
        "backup_id": backup_id,
        "site": site,
        "source": source,
        "started_at": format_utc(clock(), timespec="seconds"),
    }
    try:
        yield event
    except step_aside:
        raise
    except Exception as exc:
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        report_restore(config, {**event, "outcome": "failed", "error": error}, clock=clock)
        raise
    report_restore(config, {**event, "outcome": "finished"}, clock=clock)


def send_test(config, *, deliver=channels.deliver, clock=utcnow):
    """Send the test message to every URL of NOTIFY_URLS; return one Delivery per URL."""
    urls = channels.notify_urls(config)
    message = messages.test_notification()
    deliveries = deliver(urls, message)
    store = store_for(config)
    try:
        with store.checking(wait=RESTORE_WAIT) as state:
            if state is not None:
                remember(state, message, deliveries, clock())
                store.save(state)
    except Exception:
        log.exception("could not record the test notification")
    return deliveries


def overview(config):
    """Return what the backups page shows: the URLs (masked), the last message, the last failure."""
    urls = channels.notify_urls(config)
    state = {}
    try:
        state = store_for(config).read() if urls else {}
    except Exception as exc:  # Redis away: show the URLs all the same
        log.warning("could not read the record of notifications: %s", exc)
    return {
        "urls": [channels.mask(url) for url in urls],
        "heartbeat": bool(config.get("NOTIFY_HEARTBEAT_URL")),
        "last_message": state.get("last_message"),
        "last_failure": state.get("last_failure"),
        "checked_at": state.get("checked_at"),
        "told": state.get("open") or {},
    }
