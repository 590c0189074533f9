"""The media side of a system backup: which files go in, pinned as they are, and a fingerprint."""

import hashlib
import json
import logging
import os
import stat
from pathlib import Path

from app.archive import MAX_NAME_BYTES, check_member_path, make_dirs, name_bytes, walk
from app.backup.errors import ArchiveError, BackupError
from app.backup.mediaspool import MediaFile, MediaSpool

__all__ = [
    "MEMBER_PREFIX",
    "MediaFile",
    "MediaSpool",
    "content_fingerprint",
    "drop_unreferenced_trash",
    "is_partial_upload",
    "snapshot_media",
]

log = logging.getLogger(__name__)

MEMBER_PREFIX = "uploads/"  # where media files go in a system backup


def snapshot_media(uploads, links, trash=None):
    """Return a MediaSpool of the files under ``uploads`` and ``trash``, hard-linked into ``links``.

    Hard links pin each file as it is now, so a media item deleted while the
    archive is being written is still backed up whole. Any name Linux allows
    goes in (line breaks, backslashes, bytes that are not UTF-8); a name an
    archive cannot hold fails the backup, naming the file. Only uploads still
    being written (``.<name>.part``) are left out, and anything but regular
    files, with a warning.
    Deleted media wait in ``trash`` (same layout) until no backup can need them:
    they go in as if still in ``uploads/``, walked after it so that a file moved
    there meanwhile is found in one place or the other. Where no hard link can
    be made (another filesystem), a file is read in place.
    """
    files = MediaSpool()
    for root, trashed in ((uploads, False), (trash, True)):
        if root is not None:
            files.extend(_snapshot_tree(Path(root), links, files, trashed))
    return files


def drop_unreferenced_trash(media, media_rows_dump):
    """Drop from ``media`` (a MediaSpool) the trashed files no row of the dump references.

    ``media_rows_dump`` is the dump file of the media table (JSON lines with
    ``site_id`` and ``stored_name``); read only when something was trashed.
    Returns ``media``.
    """
    if media.any_trashed:
        with open(media_rows_dump, encoding="utf-8") as rows:
            media.keep_referenced(_referenced(rows))
    return media


def _referenced(rows):
    for line in rows:
        row = json.loads(line)
        yield f"{row['site_id']}/{row['stored_name']}"


def _snapshot_tree(uploads, links, seen, trashed):
    # Plain strings, one folder of links made per folder: a hundred thousand
    # files make each per-file step count (pathlib objects, a mkdir per file).
    top, links = os.fspath(uploads), os.fspath(links)
    for root, dirs, names in walk(uploads, onerror=_unreadable):
        dirs.sort()
        _refuse_too_deep(uploads, root, dirs)
        inside = root[len(top) + 1 :]  # root as the walk gives it, below uploads
        prefix = inside + "/" if inside else ""
        folder_made = False
        for name in sorted(names):
            if is_partial_upload(name):
                continue
            path = os.path.join(root, name)
            relpath = prefix + name
            if trashed and relpath in seen:
                continue  # moved to the trash after it was linked from uploads/
            try:
                check_member_path(MEMBER_PREFIX + relpath)
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            except ArchiveError as exc:
                raise BackupError(
                    f"cannot back up {os.fsencode(path)!r}: its name cannot go into an "
                    f"archive ({exc}); rename or move it, then back up again"
                ) from None
            except OSError as exc:  # a path too long to open here, say
                raise BackupError(
                    f"cannot back up {os.fsencode(path)!r}: {exc.strerror or exc}; "
                    "nothing was kept, rename or move it, then back up again"
                ) from None
            if not stat.S_ISREG(st.st_mode):
                log.warning("not backing up %s: not a regular file", path)
                continue
            source = os.path.join(links, relpath)
            try:
                if not folder_made:
                    make_dirs(os.path.join(links, inside))
                    folder_made = True
                os.link(path, source)
            except FileNotFoundError:
                continue  # deleted (moved to the trash) since we listed it
            except OSError:
                source = path  # no hard links here (other filesystem): read in place
            yield MediaFile(relpath, source, st.st_size, st.st_mtime_ns, trashed)


def _refuse_too_deep(uploads, root, dirs):
    """Fail the backup on a folder so deep that no file in it fits an archive's name limit.

    The walk goes no deeper than an archive can hold, so it ends whatever the
    depth of the tree; a restore creates any path the archive holds.
    """
    inside = root[len(os.fspath(uploads)) + 1 :]  # root as the walk gives it, below uploads
    for name in dirs:
        member = f"{MEMBER_PREFIX}{inside}/{name}" if inside else MEMBER_PREFIX + name
        if len(name_bytes(member)) + 2 > MAX_NAME_BYTES:  # "/" and a one-byte name
            raise BackupError(
                f"cannot back up {os.fsencode(Path(root, name))!r}: folders nested deeper "
                f"than an archive holds (a path of at most {MAX_NAME_BYTES} bytes); "
                "nothing was kept, move or flatten it, then back up again"
            )


def _unreadable(exc):
    """Fail the backup on a folder that cannot be listed (a walk would skip it silently).

    A folder that does not exist (no trash yet, a site deleted meanwhile) holds nothing.
    """
    if isinstance(exc, FileNotFoundError):
        return
    raise BackupError(
        f"cannot back up {os.fsencode(exc.filename or '?')!r}: {exc.strerror or exc}; "
        "nothing was kept, fix or move it, then back up again"
    ) from None


def is_partial_upload(name):
    """Return True for an upload still being written (``.<name>.part``, see app.media)."""
    return name.startswith(".") and name.endswith(".part")


def content_fingerprint(dump, media):
    """Return a SHA-256 naming the content: database rows (via dump hashes) and media (a spool).

    Media files are immutable once stored (each upload gets a new random name,
    nothing rewrites a file in place), so path, size and mtime identify their
    content without reading them again.
    """
    digest = hashlib.sha256()
    head = {
        "dialect": dump.dialect,
        "revision": dump.revision,
        "tables": [[t.table, t.rows, t.sha256] for t in dump.tables],
    }
    digest.update(json.dumps(head, sort_keys=True).encode())
    for f in media.by_name():  # sorted by relpath, as sorted() sorts str
        digest.update(f"{f.relpath}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
