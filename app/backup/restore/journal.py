"""The restore journal: what lets the next process finish or undo a restore a crash interrupted.

A restore replaces the database (one transaction) and the media folder (two
renames), which cannot be one atomic step. Before the first rename it writes
``<data dir>/restore-journal.json`` (fsynced) naming the folders involved and a
random token; inside its transaction it records the token in the
``stinky_restore_marks`` table (``app.commitmarks``). After a crash, the
token's presence tells whether the transaction committed:

* committed: the new database is in, so the new media stay; the old media
  folder set aside is deleted (the restore is finished);
* not committed: the old database is still in, so the new media folder goes
  and the old one is put back (the restore is undone).

Every process that starts (web, worker, any ``flask`` command) runs
``recover_at_startup``, and every backup and restore recovers first, under the
backup lock. The journal is removed only once media and database match.
"""

import json
import logging
import os
import secrets
import socket

from app.archive import fsync_dir, remove_tree
from app.backup.errors import BackupLocked, RestoreFailed
from app.commitmarks import KILL_AT_VARIABLE, MARKS, mark, prepare_marks, reached
from app.commitmarks import committed as _committed
from app.config import data_path
from app.coordination import backup_lock, lock_holder
from app.models import utcnow

log = logging.getLogger(__name__)

JOURNAL_NAME = "restore-journal.json"
__all__ = ["KILL_AT_VARIABLE", "MARKS", "mark", "prepare_marks", "reached"]


def journal_path(config):
    """Return the path of the restore journal."""
    return data_path(config, JOURNAL_NAME)


def read_journal(config):
    """Return the journal's record, or None when no restore is pending."""
    try:
        record = json.loads(journal_path(config).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # a journal is written whole (rename) or not at all; never half
    return record if isinstance(record, dict) else {}


def write_journal(config, backup_id, aside, staged, *, clock=utcnow):
    """Write and fsync the journal before the media swap; return its token."""
    token = secrets.token_hex(16)
    record = {
        "backup_id": backup_id,
        "token": token,
        "had_uploads": data_path(config, "uploads").exists(),
        "aside": aside.name,
        "staged": os.path.relpath(staged, data_path(config)),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": clock().isoformat(timespec="seconds"),
    }
    path = journal_path(config)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as out:
        json.dump(record, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return token


def remove_journal(config):
    """Remove the journal once database and media match (fsynced)."""
    path = journal_path(config)
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


def recover_at_startup(config, engine):
    """Finish or undo an interrupted restore, if any and if no restore runs; never raise."""
    if not journal_path(config).exists():
        return None
    try:
        with backup_lock(config, "restore recovery"):
            return recover_locked(config, engine)
    except BackupLocked:
        return None  # the restore still runs, or another process recovers it
    except Exception:
        log.exception("could not finish or undo the interrupted restore; will retry at next start")
        return None


def recover_locked(config, engine):
    """Finish or undo an interrupted restore (hold the backup lock); return what was done."""
    record = read_journal(config)
    if record is None:
        return None
    if not record.get("token"):
        raise RestoreFailed(
            f"{journal_path(config)} is unreadable: compare uploads/ with the "
            "uploads.pre-restore-* folder by hand, then delete it"
        )
    uploads = data_path(config, "uploads")
    aside = data_path(config, record["aside"])
    if _committed(engine, record["token"]):
        remove_tree(aside, ignore_errors=True)
        done = "finished"
    else:
        if aside.exists():
            if uploads.exists():  # the restored media went in: take them out
                _discard(config, uploads)
            os.rename(aside, uploads)
        elif (
            not record.get("had_uploads", True)
            and uploads.exists()
            and not data_path(config, record["staged"]).exists()  # the restored media went in
        ):
            _discard(config, uploads)
        done = "undone"
    remove_journal(config)
    log.warning(
        "the restore of %s interrupted at %s (pid %s) was %s: database and media match again",
        record.get("backup_id"),
        record.get("started_at"),
        record.get("pid"),
        done,
    )
    return done


def _discard(config, folder):
    discard = data_path(config, f".restore-staging.tmp-undone-{secrets.token_hex(4)}")
    os.rename(folder, discard)
    remove_tree(discard, ignore_errors=True)


def journal_problems(config):
    """Return the health problem of an interrupted restore not yet recovered, as a list."""
    record = read_journal(config)
    if record is None:
        return []
    holder = lock_holder(config)
    if holder and (holder.get("pid"), holder.get("host")) == (
        record.get("pid"),
        record.get("host"),
    ):
        return []  # the restore is still running
    backup_id = record.get("backup_id", "a backup")
    return [
        {
            "code": "restore-interrupted",
            "label": "RESTORE",
            "message": (
                f"the restore of {backup_id} (started {record.get('started_at')}) was "
                "interrupted and is not finished or undone yet: the database and media may "
                "not match; every StinkyKitty process retries at start (see its log), or run "
                "`flask backup status` again"
            ),
            "summary": f"an interrupted restore of {backup_id} awaits recovery",
        }
    ]
