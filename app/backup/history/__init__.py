"""A site's history: its versions in the kept backups, what differs from now, a restore of one.

- ``index``: the per-site index of a backup (counts, files, SHA-256
  fingerprints per page, media item and part), made from the dump's lines as
  they are written;
- ``indexspool``: what the index keeps of pages, blocks, media items and files
  while it is made, in a temporary SQLite database (flat memory);
- ``store``: that index kept beside each backup (``<id>.sites.json``),
  written when the backup is made, made lazily from the archive for older ones;
- ``listing``: a site's versions, runs of the same collapsed, each compared
  with the site's live rows (``site_history``, ``version_of``);
- ``words``: what differs, and what a restore does, in sentences;
- ``restore``: restoring a version, the one-site restore of a backup with the
  checks that it is this site's (``restore_version``).
"""

from app.backup.history.index import SiteEntry, SiteIndexer, site_files
from app.backup.history.listing import (
    History,
    Version,
    VersionNotFound,
    live_entry,
    site_history,
    version_of,
)
from app.backup.history.restore import restore_version
from app.backup.history.store import (
    BackupIndex,
    index_backup,
    index_missing,
    index_path,
    make_index,
    read_index,
    sweep_orphans,
    write_index,
)
from app.backup.history.words import describe_changes, describe_restore

__all__ = [
    "BackupIndex",
    "History",
    "SiteEntry",
    "SiteIndexer",
    "Version",
    "VersionNotFound",
    "describe_changes",
    "describe_restore",
    "index_backup",
    "index_missing",
    "index_path",
    "live_entry",
    "make_index",
    "read_index",
    "restore_version",
    "site_files",
    "site_history",
    "sweep_orphans",
    "version_of",
    "write_index",
]
