"""Restores: the whole system, or one site, from a system backup of any earlier schema revision.

- ``system``: restore everything, or nothing (``restore_backup``);
- ``site``: restore ONE site; every other site keeps its rows and files;
- ``staging``: the opening both share: recover an interrupted restore, check
  the archive, extract it into a staging folder;
- ``journal``: what lets the next process finish or undo a restore a crash
  interrupted (``recover_at_startup``);
- ``upgrade``: a backup of an older schema revision migrated forward in a
  scratch database (``scratch``) before it is loaded; ``restorability``.
"""

from app.backup.restore.journal import journal_problems, recover_at_startup, recover_locked
from app.backup.restore.site import SiteRestoreOutcome, restore_site
from app.backup.restore.staging import staged_backup
from app.backup.restore.system import RestoreOutcome, restore_backup
from app.backup.restore.upgrade import (
    head_revision,
    migration_steps,
    restorability,
    restorability_report,
)

__all__ = [
    "RestoreOutcome",
    "SiteRestoreOutcome",
    "head_revision",
    "journal_problems",
    "migration_steps",
    "recover_at_startup",
    "recover_locked",
    "restorability",
    "restorability_report",
    "restore_backup",
    "restore_site",
    "staged_backup",
]
