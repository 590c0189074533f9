"""Pages hashed again from their block lines, when their running SHA-256 was sealed too soon.

The site index hashes each page as its blocks come (``IndexSpool``), keeping
the running SHA-256 of the pages seen last. A page whose blocks come again
after its hash was sealed is marked broken; once every block is in, each
broken page is hashed again from its line and all its runs of block lines,
read back from the temporary file they were appended to, in the order they
came.
"""

import hashlib
import os
import sqlite3


def rehash_broken(db: sqlite3.Connection, runs: int) -> None:
    """Hash every broken page again from its line and its runs (read from the file ``runs``).

    One pass over their runs sorted by page (SQLite sorts on disk). Replaces
    their rows of ``page_sums`` (SHA-256 and blocks) and empties ``broken``.
    """
    db.execute("BEGIN")
    rows = db.execute(
        "SELECT r.page, r.count, r.offset, r.length FROM runs r"
        " JOIN broken b ON b.id = r.page ORDER BY r.page, r.n"
    )
    page: object = None
    digest = None
    count = 0
    for run_page, run_count, offset, length in rows:
        if run_page != page:
            _keep_sum(db, page, digest, count)
            page, count = run_page, 0
            line = db.execute("SELECT line FROM pages WHERE id = ?", (page,)).fetchone()
            digest = hashlib.sha256(line[0]) if line is not None else None
            db.execute("DELETE FROM page_sums WHERE id = ?", (page,))
        if digest is not None:
            digest.update(os.pread(runs, length, offset))
            count += run_count
    _keep_sum(db, page, digest, count)
    db.execute("DELETE FROM broken")
    db.execute("COMMIT")


def _keep_sum(
    db: sqlite3.Connection, page: object, digest: "hashlib._Hash | None", count: int
) -> None:
    if digest is not None:
        db.execute(
            "INSERT OR REPLACE INTO page_sums VALUES (?, ?, ?)", (page, digest.digest(), count)
        )
