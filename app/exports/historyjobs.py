"""The "Site history" restore job: a site restore job whose rows come from a backup, one at a time.

It is a job of the restore jobs' store (``app.exports.restorejobs``) of kind
``history``, queued at once (the page asked for a typed confirmation first),
with the backup to read (``backup_id``) and the preview the owner confirmed.
It runs as any restore job runs: claimed once, the site saved first inside
the restore's own transaction, so "Undo" is the same exact undo as after a
restore from a file; what writes the site is given by the task
(``app.tasks.sitehistory``), which reads the backup.

One restore per site at a time: a second request while a job of the site is
queued or running is refused (``JobStateError``), decided under a per-site
lock file so two requests at the same moment cannot both pass.
"""

import contextlib
import fcntl
import os

from app.exports.restorejobs import JobStateError, active_job, imports_dir, new_job, write_job
from app.models import utcnow

KIND = "history"
BUSY = "A restore of this site is already running; wait for it to finish."


@contextlib.contextmanager
def _site_lock(config, site_id):
    """Hold the lock that orders the requests of site ``site_id`` (briefly, blocking)."""
    root = imports_dir(config)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / f".history-{int(site_id)}.lock", os.O_CREAT | os.O_RDWR, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def request_history_restore(config, site_id, user_id, backup_id, preview, *, clock=utcnow):
    """Return a queued job restoring site ``site_id`` to its version in backup ``backup_id``.

    ``preview`` is what the owner was shown (stored with the job). Raises
    JobStateError while another restore job of the site is queued or running.
    """
    with _site_lock(config, site_id):
        if active_job(config, site_id, clock=clock) is not None:
            raise JobStateError(BUSY)
        job = new_job(config, site_id, user_id, KIND, clock)
        job.update(state="queued", backup_id=backup_id, preview=preview)
        write_job(config, job)
    return job
