"""Retention protects intact backups: damaged ones never count, the newest verified one stays."""

import datetime as dt
import os

from app.backup import verification
from app.backup.catalog import list_backups
from app.backup.system import create_backup, prune_backups
from app.extensions import db
from app.models.types import utcnow
from tests.backupkit import FakeClock, rot


def nights(app, make, count):
    """Make ``count`` backups a night apart, each with a stored media file; oldest first."""
    clock = FakeClock(utcnow() - dt.timedelta(days=count))
    site = make.site()
    made = []
    for _ in range(count):
        make.media(site, content=os.urandom(100_000), name="photo.jpg")
        made.append(create_backup(app.config, db.engine, clock=clock, skip_unchanged=False))
        clock.advance(days=1)
    return made


def kept(app):
    return [info.backup_id for info in list_backups(app.config)]


def test_damaged_backups_do_not_count_toward_keep_and_are_not_deleted(app, make):
    b1, b2, b3, b4 = nights(app, make, 4)
    rot(b3)
    rot(b4)
    verification.verify_due(app.config)  # finds b3 and b4 damaged
    assert prune_backups(app.config, keep=2) == []  # b1 and b2 are the only intact ones
    assert kept(app) == [b4.backup_id, b3.backup_id, b2.backup_id, b1.backup_id]


def test_the_newest_verified_good_backup_is_never_deleted(app, make):
    b1, b2, b3 = nights(app, make, 3)
    verification.check_backup(app.config, b1.backup_id)  # only the oldest was verified so far
    assert prune_backups(app.config, keep=1) == [b2.backup_id]
    assert kept(app) == [b3.backup_id, b1.backup_id]


def test_prune_says_what_it_kept_and_why(app, make, runner):
    b1, b2, b3, b4 = nights(app, make, 4)
    rot(b4)
    verification.check_backup(app.config, b4.backup_id)
    verification.check_backup(app.config, b1.backup_id)
    said = runner.invoke(args=["backup", "prune", "--keep", "1"])
    assert said.exit_code == 0, said.output
    lines = said.stdout.splitlines()
    assert lines[0] == f"Deleted 1 old backup(s): {b2.backup_id}."
    assert lines[1].startswith(f"Kept {b4.backup_id}: damaged, not counted; check and delete it")
    assert lines[2] == f"Kept {b3.backup_id}: one of the newest 1 intact backups."
    assert lines[3] == f"Kept {b1.backup_id}: the newest backup whose full verification passed."
    nothing = runner.invoke(args=["backup", "prune", "--keep", "1"])
    assert nothing.stdout.splitlines()[0] == "Nothing to delete."


def test_a_new_backup_after_rot_deletes_no_intact_backup(app, make):
    """The issue's case: the nightly run's retention must not leave only broken backups."""
    made = nights(app, make, 3)
    for outcome in made[1:]:
        rot(outcome)
    verification.verify_due(app.config)
    make.user()
    newest = create_backup(app.config, db.engine)  # retention runs with BACKUP_KEEP=10 ...
    assert prune_backups(app.config, keep=1) == []  # ... and by hand with keep=1: b1 stays
    assert made[0].backup_id in kept(app)
    assert newest.backup_id in kept(app)
