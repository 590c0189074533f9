"""Media files on disk: the one module that adds, opens and deletes them.

Files live at ``<data dir>/uploads/<site_id>/<stored_name>``. Stored names are
random; the user's file name is kept in the database only, never used as a path.
A file is written before its row commits and leaves ``uploads/`` only after
its row's deletion commits, so a backup always holds the files of its rows.
"""

import logging
import mimetypes
import os
import secrets
import shutil
from pathlib import PurePosixPath

from flask import current_app
from sqlalchemy import event

from app.config import data_path
from app.coordination import move_to_trash
from app.extensions import db
from app.models import MediaItem

CHUNK = 1024 * 1024
_PENDING = "media_files_to_trash"

log = logging.getLogger(__name__)


def uploads_dir(config=None):
    """Return the uploads directory of the current (or given) config."""
    return data_path(config or current_app.config, "uploads")


def media_path(item, config=None):
    """Return the absolute path of ``item``'s file."""
    return uploads_dir(config) / str(item.site_id) / item.stored_name


def _stored_name(original_name):
    suffix = PurePosixPath(original_name).suffix.lower()
    if not (suffix[1:].isalnum() and len(suffix) <= 10):
        suffix = ""
    return secrets.token_hex(16) + suffix


def add_media(site, stream, original_name, mime_type=None, uploaded_by=None, preview=None):
    """Store the bytes of ``stream`` as a new media item of ``site`` and return it.

    The caller commits the session; the file is written atomically first.
    """
    site_dir = uploads_dir() / str(site.id)
    site_dir.mkdir(parents=True, exist_ok=True)
    stored_name = _stored_name(original_name)
    final = site_dir / stored_name
    tmp = site_dir / f".{stored_name}.part"
    with open(tmp, "wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, final)
    item = MediaItem(
        site_id=site.id,
        stored_name=stored_name,
        original_name=original_name,
        size=final.stat().st_size,
        mime_type=mime_type or mimetypes.guess_type(original_name)[0] or "application/octet-stream",
        uploaded_by_id=uploaded_by.id if uploaded_by else None,
        preview=preview,
    )
    db.session.add(item)
    return item


def open_media(item):
    """Open ``item``'s file for binary reading."""
    return open(media_path(item), "rb")


def delete_media(item):
    """Delete ``item``'s row in the session; its file goes to the trash once that commits.

    The file stays in ``uploads/`` until the deletion commits, so a database
    snapshot that still has the row finds the file (see ``app.coordination.trash``).
    """
    session = db.session()
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _trash_committed)
        event.listen(session, "after_rollback", _forget_pending)
    pending.append((current_app.config, item.relative_path))
    session.delete(item)


def _trash_committed(session):
    pending, session.info[_PENDING] = session.info.get(_PENDING, []), []
    for config, relpath in pending:
        try:
            move_to_trash(config, relpath)
        except OSError:  # the row is gone; the file stays, unreferenced, in uploads/
            log.exception("could not move the deleted media file %s to the trash", relpath)


def _forget_pending(session):
    session.info[_PENDING] = []
