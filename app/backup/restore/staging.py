"""The opening every restore shares: recover, check, then extract a backup into a staging folder.

Both restore paths (the whole system, ``app.backup.restore.system``; one site,
``app.backup.restore.site``) hold the backup lock, then:

1. ``open_backup``: finish or undo an interrupted restore first (the journal,
   ``app.backup.restore.journal``), remove what killed runs left, read the manifest and
   refuse what this app cannot restore (not a system backup, a newer schema),
   returning the migrations an older one runs through;
2. ``staged_backup``: check the free space, extract and verify the whole archive
   (every member's SHA-256 and the tag) into a new staging folder, writing only
   the members ``keep`` accepts, and remove that folder when the restore is done.
"""

import contextlib
import secrets

from app.archive import check_space, extract_archive, read_manifest, remove_tree
from app.backup import catalog
from app.backup.errors import CorruptArchive
from app.backup.restore import upgrade
from app.backup.restore.journal import recover_locked
from app.config import data_path
from app.dumps import database_revision


def check_revision(manifest, current, name, config=None):
    """Return the migrations a restore of ``manifest`` runs (none: same revision).

    Raise SchemaMismatch for a backup newer than this app, or a database not
    at this app's schema (see ``app.backup.restore.upgrade.migration_steps``).
    """
    made_by = f"StinkyKitty {manifest.get('app_version', '?')}"
    wanted = manifest["database"].get("revision")
    return upgrade.migration_steps(config or {}, wanted, current, name, made_by)


def open_backup(config, engine, path):
    """Recover an interrupted restore, then check backup ``path``; return (manifest, steps).

    Run under the backup lock. ``steps`` are the migrations a backup of an
    older schema runs through (empty: the same revision).
    """
    recover_locked(config, engine)
    catalog.remove_leftovers(config)
    manifest = read_manifest(path)
    catalog.check_system_manifest(manifest, path.name)
    with engine.connect() as conn:
        steps = check_revision(manifest, database_revision(conn), path.name, config)
    return manifest, steps


@contextlib.contextmanager
def staged_backup(config, path, manifest, *, what, keep=None, progress=None, key=None):
    """Extract and verify backup ``path`` into a new staging folder; yield it, then remove it.

    Only the members ``keep(name)`` accepts are written (all by default), but
    every member is read and checked. ``what`` names the restore in a refusal
    for lack of space; ``key`` is the tag's key (None: unauthenticated accepted).
    """
    needed = sum(f["size"] for f in manifest["files"] if keep is None or keep(f["path"]))
    staging = data_path(config, f".restore-staging.tmp-{secrets.token_hex(4)}")
    free = check_space(needed, staging.parent, what)
    try:
        extracted = extract_archive(
            path, staging, max_bytes=free, keep=keep, key=key, progress=progress
        )
        if extracted != manifest:
            raise CorruptArchive(f"{path.name}: the archive changed while it was read")
        yield staging
    finally:
        remove_tree(staging, ignore_errors=True)
