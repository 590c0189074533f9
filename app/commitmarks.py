"""Commit marks: after a crash, tell whether a transaction committed.

A writer that must know later whether its transaction went in picks a random
token, records it somewhere durable first (the restore journal, a job's
record), then inserts it into ``stinky_restore_marks`` inside the transaction
(a table outside the app's models: never dumped). The token is in the table
exactly when the transaction committed. The restore journal
(``app.backup.restore.journal``) and the job store (``app.jobstore``) both use it.

The tests kill a process at a named step (``reached``) to prove what a crash
there leaves behind.
"""

import os
import signal

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

MARKS = sa.Table(
    "stinky_restore_marks", sa.MetaData(), sa.Column("token", sa.String(64), primary_key=True)
)
# Marks of jobs start with this; a whole-system restore's mark leaves them alone.
JOB_PREFIX = "job-"
# Tests name a step here to have the process killed right there.
KILL_AT_VARIABLE = "STINKY_TEST_RESTORE_KILL_AT"


def reached(step):
    """Kill this process at ``step`` when the tests ask for it (a crash, for the crash tests)."""
    if os.environ.get(KILL_AT_VARIABLE) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def prepare_marks(engine):
    """Create the marks table if needed (DDL: outside any transaction of ours)."""
    with engine.connect() as conn:
        if sa.inspect(conn).has_table(MARKS.name):
            return
    # Plain DB-API: a DDL statement of its own, not part of any transaction of ours.
    ddl = str(CreateTable(MARKS, if_not_exists=True).compile(dialect=engine.dialect))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(ddl)
        cursor.close()
        raw.commit()
    finally:
        raw.close()


def mark(conn, token):
    """Record ``token`` in a whole-system restore's transaction, replacing its earlier marks."""
    conn.execute(MARKS.delete().where(~MARKS.c.token.startswith(JOB_PREFIX)))
    conn.execute(MARKS.insert().values(token=token))


def add_mark(conn, token):
    """Record ``token`` in the transaction of ``conn`` (it commits or vanishes with it)."""
    conn.execute(MARKS.insert().values(token=token))


def drop_mark(engine, token):
    """Remove ``token`` once whoever needed it has recorded the outcome elsewhere."""
    with engine.begin() as conn:
        conn.execute(MARKS.delete().where(MARKS.c.token == token))


def committed(engine, token):
    """Return True when the transaction holding ``token`` committed.

    Inserting the same token waits for a transaction still settling on the
    server (a dead client's COMMIT in flight) and fails if it committed.
    """
    prepare_marks(engine)
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(MARKS.insert().values(token=token))
        except sa.exc.IntegrityError:
            trans.rollback()
            return True
        trans.rollback()
        return False
