"""Restore ONE site from a system backup; every other site keeps its rows and files as they are.

1. Under the backup lock, read the manifest and refuse early what cannot be
   restored (not a system backup, a newer schema revision, no such site). The
   site's id in the backup, which names its media folder, comes from the site
   index kept beside the backup (``<id>.sites.json``, no archive read), else
   from the archive's sites dump (a read of the archive up to that member).
2. Extract and verify the whole archive in one pass (every member's SHA-256 is
   checked) but write only the dump and that site's media to a staging folder.
   The index is not trusted: the site's id in the verified dump must be the one
   it gave, else the archive is extracted again under the dump's id.
3. Read the site's rows out of the dump (``app.sitedata.fromdump``) and hand them
   to the site loader with only that site in maintenance: its pages answer 503,
   every other site keeps serving. The loader writes them in one transaction.

The loader lives with the site exports; the caller passes it in as
``load(rows, site_id)`` (``site_id`` is the live site to replace, or None to
recreate a site deleted since), so that this package does not import that one.
"""

import json
import logging
import re
import time
from dataclasses import dataclass

import sqlalchemy as sa

from app.archive import read_member
from app.backup import catalog
from app.backup.errors import CorruptArchive
from app.backup.restore import upgrade
from app.backup.restore.staging import open_backup, staged_backup
from app.coordination import backup_lock, site_maintenance
from app.models import Site, format_utc, parse_utc, utcnow
from app.sitedata import (
    LoadSummaryDict,
    SiteLoad,
    SiteNotInBackup,
    dump_member,
    find_site_row,
    read_site_rows,
    site_loader,
)

log = logging.getLogger(__name__)

MAX_SITES_DUMP = 256 * 1024 * 1024


@dataclass(frozen=True)
class SiteRestoreOutcome:
    """What ``restore_site`` did."""

    backup_id: str
    created_at: object  # naive UTC datetime the backup was made
    subdomain: str
    summary: LoadSummaryDict  # the loader's summary
    duration: float

    def to_dict(self):
        """Return a JSON-ready dict."""
        return {
            "backup_id": self.backup_id,
            "created_at": format_utc(self.created_at),
            "subdomain": self.subdomain,
            **self.summary,
            "duration": round(self.duration, 3),
        }


_INDEXED_SITE = re.compile(rb'\{"id":(\d+),"subdomain":("(?:[^"\\]|\\.)*"),')


def indexed_site_id(config, backup_id, subdomain):
    """Return the id the site index beside ``backup_id`` gives ``subdomain``, or None.

    None when there is no index (yet), it cannot be read, or it names no such
    site: the caller then reads the archive. Only the start of each site's line
    is looked at (a large site's line holds every page and media item).
    """
    try:
        with open(catalog.index_path(config, backup_id), "rb") as source:
            header = json.loads(source.readline())
            if not isinstance(header, dict) or header.get("backup_id") != backup_id:
                return None
            for line in source:
                found = _INDEXED_SITE.match(line)
                if found and json.loads(found[2]) == subdomain:
                    return int(found[1])
    except (OSError, ValueError):
        return None
    return None


def backup_site_id(path, manifest, subdomain, staging=None):
    """Return the id site ``subdomain`` had in the backup.

    Reads the archive up to its sites dump, or that dump in ``staging`` when the
    archive was extracted there.
    """
    member = dump_member(manifest["tables"], "sites")
    if staging is None:
        data = read_member(path, member, max_bytes=MAX_SITES_DUMP)
    else:
        data = (staging / member).read_bytes()
    lines = data.splitlines()
    try:
        row = find_site_row(lines, subdomain)
    except ValueError:
        raise CorruptArchive(f"{path.name}: the sites dump is damaged") from None
    if row is None or not isinstance(row.get("id"), int):
        raise SiteNotInBackup(f"backup {path.name} holds no site {subdomain!r}")
    return row["id"]


def restore_site(
    config,
    engine,
    backup_id,
    subdomain,
    *,
    load: SiteLoad | None = None,
    progress=None,
    clock=utcnow,
    read_rows=read_site_rows,
    allow_unauthenticated=False,
):
    """Replace site ``subdomain`` with its state in backup ``backup_id``; return the outcome.

    ``load(rows, site_id)`` writes the rows and returns its summary as a dict
    (default: the site loader, ``app.sitedata.site_loader``).
    ``progress(phase, done, total)`` follows "extract".
    ``read_rows(staging, subdomain)`` is where the rows come from.
    Unless ``allow_unauthenticated``, the archive's tag must match BACKUP_KEY.
    Raises BackupNotFound, Unauthenticated, CorruptArchive, SchemaMismatch, SiteNotInBackup,
    NotEnoughSpace or BackupLocked before anything changed.
    """
    started = time.monotonic()
    load = load or site_loader(config, engine)
    subdomain = subdomain.strip().lower()
    path = catalog.backup_path(config, backup_id)
    backup_id = catalog.normalize_id(backup_id)
    key = catalog.key_for(config, allow_unauthenticated)
    with backup_lock(config, "site restore", clock=clock):
        manifest, steps = open_backup(config, engine, path)
        old_id = indexed_site_id(config, backup_id, subdomain)
        trusted = old_id is None  # the id read from the archive, not from the index beside it
        if old_id is None:
            old_id = backup_site_id(path, manifest, subdomain)
        while True:
            with staged_backup(
                config,
                path,
                manifest,
                what=f"restoring {subdomain} from {backup_id}",
                keep=_site_members(old_id),
                progress=catalog.phase(progress, "extract"),
                key=key,
            ) as staging:
                dumped_id = backup_site_id(path, manifest, subdomain, staging)
                if dumped_id == old_id:
                    read = (path, manifest, steps, read_rows)
                    rows = _site_rows(config, engine, staging, read, subdomain, progress)
                    summary = _load_live(config, engine, rows, subdomain, backup_id, load, clock)
                    break
            if trusted:  # cannot be: the same verified dump read twice
                raise CorruptArchive(f"{path.name}: the sites dump is damaged")
            # The index beside the backup named another id than the verified dump: its
            # media were not extracted. Extract again under the dump's id.
            log.warning("the site index of %s is wrong about %s; ignored", backup_id, subdomain)
            old_id, trusted = dumped_id, True
    outcome = SiteRestoreOutcome(
        backup_id=backup_id,
        created_at=parse_utc(manifest["created_at"]),
        subdomain=subdomain,
        summary=summary,
        duration=time.monotonic() - started,
    )
    log.info("restored site %s from backup %s: %s", subdomain, backup_id, json.dumps(summary))
    return outcome


def _site_rows(config, engine, staging, read, subdomain, progress):
    """Return the rows of ``subdomain`` from ``staging``; an older schema is migrated first.

    ``read`` is (the archive's path, its manifest, the migration steps, ``read_rows``).
    """
    path, manifest, steps, read_rows = read
    dump_dir = "db"
    if steps:  # an older schema: migrate a scratch copy, read the site from that
        upgrade.load_at_head(
            config,
            staging,
            manifest,
            steps,
            dialect=engine.dialect.name,
            name=path.name,
            progress=catalog.phase(progress, "migrate"),
        )
        dump_dir = upgrade.HEAD_DUMP
    return read_rows(staging, subdomain, dump_dir)


def _site_members(site_id):
    """Return ``keep(name)``: the members staged for the site ``site_id`` of the backup."""
    prefix = f"uploads/{site_id}/"

    def keep(name):
        return name.startswith("db/") or name.startswith(prefix)

    return keep


def _load_live(config, engine, rows, subdomain, backup_id, load, clock):
    """Load ``rows`` over the live site ``subdomain`` with it alone in maintenance."""
    with engine.connect() as conn:
        live_id = conn.scalar(sa.select(Site.id).where(Site.subdomain == subdomain))
    reason = f"restoring site {subdomain} from {backup_id}"
    with site_maintenance(config, live_id, reason, clock=clock):
        return load(rows, live_id)
