"""The database dump of a backup, made in a thread while the archive's media are written.

The dump (Python, holding the GIL) and storing the media (hashing and copying,
which release it) overlap on two cores instead of following each other. The
thread takes the database snapshot, snapshots the media in it, then dumps the
tables in foreign-key order, each into its file; the writer's deflating thread
gets every piece as it is written (``members`` yields one Stream per table), so
deflating the last table ends moments after dumping it. Once the writer runs,
at most ``AHEAD`` pieces wait between the two threads, which bounds the memory.
The writer starts once the media table is dumped (its rows decide which media
go in): the tables dumped before that, the media table included, are handed
over as their finished files (a Member each), not as pieces held in memory,
so a hundred thousand media rows wait on disk, not in the queue.
"""

import queue
import threading
import time

from app.archive import Member, Stream, check_space
from app.backup.mediasnap import drop_unreferenced_trash, snapshot_media
from app.config import data_path
from app.coordination import trash_dir
from app.dumps import dump_database, dump_filename
from app.errors import StinkyKittyError
from app.models import MediaItem

AHEAD = 8  # pieces of dump (up to BATCH rows each) waiting to be deflated
_DONE = object()
_END = object()  # ends a table's pieces


class Stopped(StinkyKittyError):
    """The dump was told to stop (the archive it fed was abandoned)."""


class DumpAhead:
    """Run the dump of ``tables`` into ``work`` in a thread; see the module's docstring.

    In the snapshot, the media are hard-linked into ``links`` and the free
    space in ``space_folder`` is checked for the dump (about ``db_bytes``) and
    the archive. ``watch(table name)`` may return a function that is given
    every piece of that table's dump too, in this thread (the site index).
    """

    def __init__(self, config, engine, tables, work, links, space_folder, db_bytes, watch=None):
        self.tables = tables
        self.member_paths = [f"db/{dump_filename(i, t.name)}" for i, t in enumerate(tables, 1)]
        self.dump = None
        self._config = config
        self._engine = engine
        self._work = work
        self._links = links
        self._space = (space_folder, db_bytes)
        self._watch = watch
        self._media = None
        self._media_ready = threading.Event()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._pieces = queue.SimpleQueue()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="dump-ahead", daemon=True)
        self._thread.start()

    def _run(self):
        snapshot = []  # the media spool, once walked

        def on_snapshot():
            uploads = data_path(self._config, "uploads")
            snapshot.append(snapshot_media(uploads, self._links, trash_dir(self._config)))
            # The dump (about the database's size) and the archive (at most the
            # database again plus the media, which are stored, not deflated).
            folder, db_bytes = self._space
            check_space(2 * db_bytes + snapshot[0].size, folder, "the backup")

        def sink(path):
            seen = self._watch and self._watch(path.stem.split("-", 1)[1])
            if not self._media_ready.is_set():
                return seen or None  # the writer reads the finished file (on_table)
            self._hand_over(path)
            if not seen:
                return self._hand_over

            def both(piece):
                seen(piece)
                self._hand_over(piece)

            return both

        def on_table(table):
            if self._media_ready.is_set():
                self._hand_over(_END)
            else:
                member = Member(f"db/{table.path.name}", table.size, table.path, compressible=True)
                self._hand_over(member)
            if table.table == MediaItem.__tablename__:
                # A file in the media trash is kept only while a dumped row references it.
                self._media = drop_unreferenced_trash(snapshot[0], table.path)
                self._media_ready.set()

        try:
            self.dump = dump_database(
                self._engine,
                self._work,
                self.tables,
                on_snapshot=on_snapshot,
                on_table=on_table,
                sink=sink,
            )
        except BaseException as exc:  # handed to the caller by check()
            self._error = exc
        finally:
            self._done.set()
            self._media_ready.set()
            self._hand_over(_DONE, always=True)

    def _hand_over(self, piece, always=False):
        """Queue a piece for the writer, waiting while it is behind; raise Stopped if told to.

        Until the media are known the writer has not started, so nothing waits:
        the tables before the media table (users, sites) go ahead unbounded.
        """
        while self._media_ready.is_set() and self._pieces.qsize() >= AHEAD and not always:
            if self._stop.is_set():
                raise Stopped()
            time.sleep(0.002)
        if self._stop.is_set() and not always:
            raise Stopped()
        self._pieces.put(piece)

    def check(self):
        """Raise the dump's error, if it has failed already (without waiting)."""
        if self._error is not None:
            raise self._error

    def media(self):
        """Wait until the media to archive are known (the media table is dumped); return them."""
        self._media_ready.wait()
        self.check()
        return self._media

    def members(self):
        """Yield each table's dump, as they come: a Stream of the pieces written to its file, or
        the finished file (a Member) of a table dumped before the writer started."""
        while (piece := self._pieces.get()) is not _DONE:
            if isinstance(piece, Member):
                yield piece
            else:
                yield Stream(f"db/{piece.name}", self._pieces_of_table())
        self.check()

    def _pieces_of_table(self):
        while (piece := self._pieces.get()) is not _END:
            if piece is _DONE:  # the dump failed midway through the table
                self.check()
                raise Stopped()
            yield piece

    def result(self):
        """Wait for the whole dump; return it (a DatabaseDump) or raise its error."""
        self._done.wait()
        self.check()
        return self.dump

    def stop(self):
        """Make the dump stop at its next piece, and wait for it."""
        self._stop.set()
        self._thread.join()
