"""Restore a site to one of its versions in the backups: "Restore this version" of Site history.

It is ``restore_site`` (``app.backup.restore``), the very path of
``flask backup restore ID --site``: under the backup lock, the archive checked
whole and authenticated by BACKUP_KEY, only the site's rows read out of it,
the site alone in maintenance while the loader writes. Before and around it:

- the backup must hold a version of THIS site (its index names the same id,
  subdomain and creation, ``app.backup.history.listing.same_site``), and the rows
  read out of the archive must be that site's again (id and creation time),
  checked before the loader writes a row: an owner never gets another site's;
- a whole-system restore in progress makes it step aside (PausedForRestore:
  the job is queued again), and a running backup or restore is waited for up
  to RESTORE_LOCK_WAIT seconds, as the restore from a file waits.
"""

import time

import sqlalchemy as sa

from app.backup.errors import BackupLocked, PausedForRestore
from app.backup.history.listing import VersionNotFound, version_of
from app.backup.restore import restore_site
from app.coordination import maintenance_state
from app.models import Site, utcnow


def restore_version(config, engine, site_id, backup_id, *, load, progress=None, clock=utcnow):
    """Replace site ``site_id`` with its version in backup ``backup_id``; return the outcome.

    ``load(rows, site_id)`` writes the rows (the site loader); ``progress(phase,
    done, total)`` follows the extraction. Raises VersionNotFound, PausedForRestore,
    BackupLocked, or what ``restore_site`` raises, before anything changed.
    """
    with engine.connect() as conn:
        live = conn.execute(
            sa.select(Site.subdomain, Site.created_at).where(Site.id == site_id)
        ).one_or_none()
    if live is None:
        raise VersionNotFound(f"there is no site with id {site_id} (any more)")
    subdomain, created_at = live
    version_of(config, engine, site_id, subdomain, backup_id)  # VersionNotFound: not its own

    def checked(rows, live_id):
        site = rows["site"]
        if live_id != site_id or site["id"] != site_id or site["created_at"] != created_at:
            raise VersionNotFound(f"backup {backup_id} holds another site named {subdomain}")
        return load(rows, live_id)

    deadline = time.monotonic() + config["RESTORE_LOCK_WAIT"]
    while True:
        state = maintenance_state(config)
        if state is not None:
            raise PausedForRestore(f"site restore paused: {state.get('reason', 'a restore runs')}")
        try:
            return restore_site(
                config, engine, backup_id, subdomain, load=checked, progress=progress, clock=clock
            )
        except BackupLocked:  # restore_site tries for about a second each time
            if time.monotonic() >= deadline:
                raise
