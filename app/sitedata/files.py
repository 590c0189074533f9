"""The site loader's media files: it removes only the files it placed or replaced.

A load puts the files of its new media rows into ``uploads/<site id>/`` before
its commit, and removes files after it: on a rollback the files it placed, on a
commit the files of the rows it deleted. Their names come from the deleting
statement itself (``delete_site_media``), inside the load's transaction, so
they are exactly the rows it replaced. Any other file in the folder is not the
load's to remove: an upload racing the load writes its file before its row
commits, and that row may commit after the load (it then lands in the replaced
site, file and row together).

A load killed before its commit leaves the files it placed and no row naming
them. So that the next load of the site can remove them, a load writes each
name into a journal (``.~load-<token>.part``, left out of backups like any file
being written) before it places the file, and deletes the journal when it is
done. The next load, holding the site, removes the files that a journal left
behind names and that no row names.
"""

import filecmp
import json
import logging
import os
import secrets
import shutil
from pathlib import Path

import sqlalchemy as sa

from app.models import MediaItem

log = logging.getLogger(__name__)

MEDIA = MediaItem.__table__
JOURNAL_PREFIX = ".~load-"  # "~" is in no stored name, so no ".<name>.part" either
JOURNAL_SUFFIX = ".part"


def delete_site_media(conn, site_id):
    """Delete the media rows of site ``site_id``; return the stored names of the rows deleted."""
    where = MEDIA.c.site_id == site_id
    if conn.dialect.delete_returning:
        return set(conn.scalars(sa.delete(MEDIA).where(where).returning(MEDIA.c.stored_name)))
    rows = conn.execute(sa.select(MEDIA.c.id, MEDIA.c.stored_name).where(where).with_for_update())
    ids, names = [], set()
    for media_id, name in rows:
        ids.append(media_id)
        names.add(name)
    for start in range(0, len(ids), 500):
        conn.execute(sa.delete(MEDIA).where(MEDIA.c.id.in_(ids[start : start + 500])))
    return names


def _plain(name):
    """Return True if ``name`` is one file name of the folder (never a path out of it)."""
    return bool(name) and "/" not in name and "\x00" not in name and name not in (".", "..")


class SiteFiles:
    """The media files one load places into a site's folder and the ones it replaces."""

    def __init__(self, folder, replaced=()):
        self.folder = Path(folder)
        self.replaced = set(replaced)  # names of the rows the load deleted
        self.named = set()  # names the load's rows refer to
        self.placed = []  # paths of the files the load put there
        self.leftovers = set()  # files placed by loads that never committed
        self.stale = []  # the journals of those loads
        self.journal = None

    def find_leftovers(self):
        """Note the files listed by earlier loads' journals (call it holding the site's row).

        Loads of one site run one after the other (each holds the site's row),
        so a journal found now belongs to a load that is over: committed (its
        files are named by rows this load replaced) or not (they are named by none).
        """
        self.stale = sorted(self.folder.glob(f"{JOURNAL_PREFIX}*{JOURNAL_SUFFIX}"))
        for journal in self.stale:
            self.leftovers |= _journal_names(journal)

    def place(self, name, source):
        """Put the file ``source`` into the folder; return the stored name it has there.

        ``source`` None is a row without a file: its name is kept as it is.
        """
        if source is None:
            self.named.add(name)
            return name
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        if target.exists():
            if name in self.replaced and filecmp.cmp(source, target, shallow=False):
                self.named.add(name)  # the same bytes under the same name: keep the file
                return name
            name = secrets.token_hex(16) + Path(name).suffix[:11]
            target = self.folder / name
        self._journal(name)
        tmp = self.folder / f".{name}.part"
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        self.placed.append(target)
        self.named.add(name)
        return name

    def _journal(self, name):
        if self.journal is None:
            self.journal = self.folder / f"{JOURNAL_PREFIX}{secrets.token_hex(8)}{JOURNAL_SUFFIX}"
        with open(self.journal, "a", encoding="utf-8") as out:
            out.write(json.dumps(name) + "\n")

    def rolled_back(self):
        """Delete the files this load placed (its transaction did not commit)."""
        for path in self.placed:
            path.unlink(missing_ok=True)
        self._end()

    def committed(self):
        """Delete the files of the rows this load replaced, and what loads killed earlier left.

        Only names this load saw in its own transaction are removed, never a
        file its new rows refer to, never any other file of the folder.
        """
        gone = [self.folder / n for n in (self.replaced | self.leftovers) - self.named if _plain(n)]
        gone += [self.folder / f".{name}.part" for name in self.leftovers if _plain(name)]
        for path in sorted(gone) + self.stale:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # the load committed: an unremovable file stays, unreferenced
                log.exception("could not remove the replaced media file %s", path)
        self._end()

    def _end(self):
        if self.journal is not None:
            self.journal.unlink(missing_ok=True)
            self.journal = None


def _journal_names(journal):
    """Return the names a journal lists (a line cut short by a kill is not one)."""
    try:
        lines = journal.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return set()
    names = set()
    for line in lines:
        try:
            name = json.loads(line)
        except ValueError:
            continue
        if isinstance(name, str):
            names.add(name)
    return names
