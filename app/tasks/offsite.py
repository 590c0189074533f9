"""The nightly check of the off-site copies (see ``app.backup.offsite.fetch.verify_remote``)."""

import logging

from celery import shared_task
from flask import current_app

from app.backup import ArchiveError, BackupError
from app.backup.offsite import verify_remote

log = logging.getLogger(__name__)


@shared_task(name="stinkykitty.verify_remote_backups")
def verify_remote_backups():
    """Check every off-site copy by HEAD and read one in full; return the results."""
    try:
        results = verify_remote(current_app.config)
    except (BackupError, ArchiveError) as exc:  # the store is unreachable: the next night retries
        log.error("off-site copies could not be checked: %s", exc)
        return {"ok": False, "error": str(exc)}
    bad = [r["error"] for r in results if not r["ok"]]
    for error in bad:
        log.error("off-site copy failed its check: %s", error)
    return {"ok": not bad, "checked": len(results), "failures": bad}
