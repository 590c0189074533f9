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
  to RESTORE_LOCK_WAIT seconds, as the restore from a file waits;
- a version only off-site (``Version.offsite``) is fetched first, server-side
  (``app.backup.offsite.local_or_fetch``: downloaded, decrypted, its SHA-256
  and the whole archive checked, placed under its final name only then), in
  the phase "fetch"; a fetch that fails raises DamagedBackup or OffsiteError
  with nothing placed and nothing of the site changed.
"""

import logging
import time

import sqlalchemy as sa

from app.backup.catalog import SUFFIX, backups_dir
from app.backup.errors import (
    ArchiveError,
    BackupError,
    BackupLocked,
    CorruptArchive,
    DamagedBackup,
    NotEnoughSpace,
    PausedForRestore,
)
from app.backup.history.listing import VersionNotFound, version_of
from app.backup.offsite import OffsiteError, local_or_fetch
from app.backup.restore import restore_site
from app.coordination import maintenance_state
from app.models import Site, utcnow

log = logging.getLogger(__name__)


def restore_version(config, engine, site_id, backup_id, *, load, progress=None, clock=utcnow):
    """Replace site ``site_id`` with its version in backup ``backup_id``; return the outcome.

    ``load(rows, site_id)`` writes the rows (the site loader); ``progress(phase,
    done, total)`` follows the fetch of an off-site-only version ("fetch") and the
    extraction. Raises VersionNotFound, PausedForRestore, BackupLocked, DamagedBackup
    or OffsiteError (the fetch), or what ``restore_site`` raises, before anything changed.
    """
    with engine.connect() as conn:
        live = conn.execute(
            sa.select(Site.subdomain, Site.created_at).where(Site.id == site_id)
        ).one_or_none()
    if live is None:
        raise VersionNotFound(f"there is no site with id {site_id} (any more)")
    subdomain, created_at = live
    version = version_of(config, engine, site_id, subdomain, backup_id)  # not its own: refused

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
            if version.offsite:  # waits for the lock itself: the store is listed once
                _fetch(config, version.backup_id, progress, deadline - time.monotonic())
            return restore_site(
                config, engine, backup_id, subdomain, load=checked, progress=progress, clock=clock
            )
        except BackupLocked:  # restore_site tries for about a second each time
            if time.monotonic() >= deadline:
                raise


def _fetch(config, backup_id, progress, wait):
    """Fetch the off-site copy of ``backup_id`` unless it is here (see the module).

    A running backup or restore is waited for up to ``wait`` seconds (BackupLocked).
    """
    if (backups_dir(config) / (backup_id + SUFFIX)).is_file():
        return
    if progress is not None:
        progress("fetch", 0, 1)
    try:
        local_or_fetch(config, backup_id, wait=max(0.0, wait))
    except (BackupLocked, NotEnoughSpace):
        raise
    except CorruptArchive as exc:  # its bytes, its checksums or its authentication
        log.error("off-site copy of %s refused: %s", backup_id, exc)
        raise DamagedBackup(
            f"the off-site copy of backup {backup_id} is damaged; nothing was fetched"
        ) from exc
    except (BackupError, ArchiveError, OSError) as exc:  # the store, or the copy gone
        log.error("off-site copy of %s not fetched: %s", backup_id, exc)
        raise OffsiteError(
            f"the off-site copy of backup {backup_id} could not be fetched; try again later"
        ) from exc
    if progress is not None:
        progress("fetch", 1, 1)
