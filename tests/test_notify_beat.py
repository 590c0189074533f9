"""A dead worker does not silence the alarm: beat alone tells of a stale season.

A real ``celery beat`` process and no worker at all (the tasks beat sends
wait in the queue forever): the beat process runs the notification check
itself, and a real webhook on loopback gets the STALE message, once.
"""

import datetime as dt
from pathlib import Path

import pytest

from app.backup.notify.store import FileStore
from app.backup.runlog import recent_runs, runs_path
from app.backup.runs import run_backup
from app.extensions import db
from tests.backupkit import FakeClock
from tests.schedulekit import celery_process, log_tail
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_beat_alone_tells_of_a_stale_season_once(app, make, tmp_path, hook):
    make.site()
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=3)
    run_backup(app.config, db.engine, trigger="schedule", clock=FakeClock(long_ago))
    assert recent_runs(app.config)[0]["outcome"] == "ok"
    data_dir = Path(app.config["STINKY_DATA_DIR"])
    log = tmp_path / "beat.log"
    environ = {"NOTIFY_URLS": hook.url(), "NOTIFY_CHECK_INTERVAL": 3600}
    with celery_process("beat", data_dir, log, environ):
        try:
            wait_for(lambda: hook.posts, timeout=60, interval=0.05, what="beat's message")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log_tail(log)}") from None
        wait_for(lambda: FileStore(app.config).read()["open"], what="the record of it")
    (title,) = hook.titles
    assert title.startswith("StinkyKitty backups: STALE (the newest good backup is 7")
    assert set(FileStore(app.config).read()["open"]) == {"stale"}
    assert runs_path(app.config).read_text().count('"event": "start"') == 1  # no worker ran
