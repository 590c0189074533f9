"""Off-site copies of system backups in an S3-compatible store (``BACKUP_STORAGE_URL``).

- ``upload``: after every backup run, the newest verified-good backup gets a
  remote copy (``after_backup``; ``upload_now``), never a damaged one;
- ``keep``: remote retention (only verified-good copies count) and the
  unfinished uploads every run aborts;
- ``fetch``: a copy fetched back and checked (``fetch_backup``), and every
  copy verified where it lies (``verify_remote``);
- ``store``: the store, the names of its objects, the local record of what
  was sent and the off-site lock.
"""

from app.backup.offsite.fetch import fetch_backup, local_or_fetch, verify_remote
from app.backup.offsite.store import (
    OffsiteBusy,
    OffsiteError,
    known_good_copies,
    read_record,
    remote_copies,
    remote_store,
)
from app.backup.offsite.store import enabled as offsite_enabled
from app.backup.offsite.upload import NotIntact, after_backup, offsite_problem, upload_now

__all__ = [
    "NotIntact",
    "OffsiteBusy",
    "OffsiteError",
    "after_backup",
    "fetch_backup",
    "known_good_copies",
    "local_or_fetch",
    "offsite_enabled",
    "offsite_problem",
    "read_record",
    "remote_copies",
    "remote_store",
    "upload_now",
    "verify_remote",
]
