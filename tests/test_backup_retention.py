"""Retention deletes only when what it keeps is verified good; damaged ones never count nor go."""

import datetime as dt
import os
from types import SimpleNamespace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from app.backup import verification
from app.backup.catalog import backup_files, backups_dir, list_backups
from app.backup.status import backup_status
from app.backup.system import create_backup, prune_backups
from app.extensions import db
from app.models.types import utcnow
from tests.backupkit import FakeClock


def rot(outcome, at=0.5):
    """Flip one byte of a backup at fraction ``at`` of its length: a later write (mtime moves)."""
    stat = outcome.path.stat()
    raw = bytearray(outcome.path.read_bytes())
    raw[int(len(raw) * at)] ^= 0x01
    outcome.path.write_bytes(bytes(raw))
    os.utime(outcome.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def nights(app, make, count, size=100_000):
    """Make ``count`` backups a night apart, each with a stored media file; oldest first."""
    clock = FakeClock(utcnow() - dt.timedelta(days=count))
    site = make.site()
    made = []
    for _ in range(count):
        make.media(site, content=os.urandom(size), name="photo.jpg")
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


def test_the_issues_case_nothing_verified_keeps_the_only_restorable_backup(app, make):
    """Nothing verified, the two newest rotten: prune verifies them first and deletes nothing."""
    b1, b2, b3 = nights(app, make, 3, size=1_500_000)  # rot late in a large file: the
    rot(b2, at=0.9)  # manifest still reads, only a full verification finds it
    rot(b3, at=0.9)
    assert verification.standing(app.config) == dict.fromkeys(kept(app), "unverified")
    assert prune_backups(app.config, keep=1) == []
    assert kept(app) == [b3.backup_id, b2.backup_id, b1.backup_id]
    assert verification.standing(app.config) == {
        b3.backup_id: "damaged",
        b2.backup_id: "damaged",
        b1.backup_id: "unverified",  # alone left to count: nothing can go, no need to look
    }


def test_nothing_is_deleted_while_the_budget_leaves_what_is_kept_unverified(app, make):
    b1, b2, b3 = nights(app, make, 3)
    ticks = iter(range(100))  # each verification "takes" one second
    deleted = prune_backups(app.config, keep=2, budget=0, monotonic=lambda: next(ticks))
    assert deleted == []  # only b3 was verified within the budget: b2 is not known good
    assert verification.standing(app.config) == {
        b3.backup_id: "good",
        b2.backup_id: "unverified",
        b1.backup_id: "unverified",
    }
    assert prune_backups(app.config, keep=2) == [b1.backup_id]  # a budget that reaches b2


def test_a_backup_rewritten_since_its_verification_counts_as_unverified(app, make):
    b1, b2 = nights(app, make, 2, size=1_500_000)
    verification.verify_due(app.config)
    rot(b2, at=0.9)  # after it passed (quietly: the manifest reads): the result is stale
    assert verification.standing(app.config)[b2.backup_id] == "unverified"
    assert verification.verify_order(app.config)[0] == b2.backup_id
    assert prune_backups(app.config, keep=1) == []  # prune verifies b2 again: damaged
    assert verification.damaged_ids(app.config).keys() == {b2.backup_id}
    assert kept(app) == [b2.backup_id, b1.backup_id]


def test_prune_says_what_it_kept_and_why(app, make, runner):
    b1, b2, b3, b4 = nights(app, make, 4)
    rot(b4)
    verification.check_backup(app.config, b4.backup_id)
    said = runner.invoke(args=["backup", "prune", "--keep", "1"])
    assert said.exit_code == 0, said.output
    lines = said.stdout.splitlines()
    assert lines[0] == f"Deleted 2 old backup(s): {b2.backup_id}, {b1.backup_id}."
    assert lines[1].startswith(f"Kept {b4.backup_id}: damaged, not counted; check and delete it")
    assert lines[2] == f"Kept {b3.backup_id}: one of the newest 1 verified backups."
    nothing = runner.invoke(args=["backup", "prune", "--keep", "1"])
    assert nothing.stdout.splitlines()[0] == "Nothing to delete."


def test_a_new_backup_after_rot_deletes_no_intact_backup_until_the_new_one_passed(app, make):
    made = nights(app, make, 3)
    for outcome in made[1:]:
        rot(outcome)
    verification.verify_due(app.config)
    make.user()
    newest = create_backup(app.config, db.engine)  # retention runs with BACKUP_KEEP=10
    assert made[0].backup_id in kept(app)
    ticks = iter(range(100))
    assert prune_backups(app.config, keep=2, budget=0, monotonic=lambda: next(ticks)) == []
    assert prune_backups(app.config, keep=1) == [made[0].backup_id]  # the newest passed
    assert verification.standing(app.config)[newest.backup_id] == "good"


# --- any mix of unverified, intact and rotten backups ----------------------------------

KEEP = 2


class Retention(RuleBasedStateMachine):
    """Backups made, rotted, verified and pruned in any order; the truth is kept beside."""

    def __init__(self, app):
        super().__init__()
        self.app, self.config = app, app.config
        self.clock = FakeClock(utcnow() - dt.timedelta(days=400))
        self.rotten = set()  # the truth: ids whose bytes changed
        self.ticks = iter(range(10**9))
        folder = backups_dir(self.config)
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            path.unlink()

    @initialize()
    def start(self):
        self.config["BACKUP_KEEP"] = KEEP
        self.config["BACKUP_VERIFY_BUDGET"] = 3600

    def present(self):
        return sorted((p.name[: -len(".tar.gz")] for p in backup_files(self.config)), reverse=True)

    def restorable(self):
        return [i for i in self.present() if i not in self.rotten]

    def check(self, before, deleted, keep):
        """What a retention that deleted ``deleted`` must have kept."""
        newest = next(iter(before), None)
        assert newest is None or newest in self.present(), "the newest restorable backup went"
        if not deleted:
            return
        results = verification.read_results(self.config)
        proven = [
            i
            for i in self.restorable()
            if results.get(i, {}).get("ok") and i > max(deleted) and i not in self.rotten
        ]
        assert len(proven) >= keep, f"deleted {deleted} keeping {len(proven)} verified good"
        damaged = {i for i, r in results.items() if not r.get("ok")}
        assert not damaged & set(deleted), "a damaged backup was deleted automatically"

    @rule(budget=st.sampled_from([0, 3600]))
    def backup(self, budget):
        self.config["BACKUP_VERIFY_BUDGET"] = budget
        self.clock.advance(days=1)
        before = self.restorable()
        present = set(self.present())
        outcome = create_backup(self.config, db.engine, clock=self.clock, skip_unchanged=False)
        self.check([outcome.backup_id, *before], sorted(present - set(self.present())), KEEP)

    @rule(which=st.integers(0, 20), at=st.sampled_from([0.1, 0.9]))
    def rot_one(self, which, at):
        present = self.present()
        chosen = present[which % len(present)] if present else None
        if chosen is not None and chosen not in self.rotten:  # (a second flip would undo it)
            rot(SimpleNamespace(path=backups_dir(self.config) / f"{chosen}.tar.gz"), at)
            self.rotten.add(chosen)

    @rule(which=st.integers(0, 20))
    def verify_one(self, which):
        present = self.present()
        if present:
            verification.check_backup(self.config, present[which % len(present)])

    @rule(
        keep=st.integers(1, 3),
        budget=st.sampled_from([0, 1, 3600]),
        rot_first=st.sampled_from([None, 0, 1]),
    )
    def prune(self, keep, budget, rot_first):
        if rot_first is not None:  # one of the newest rots just before (after it passed, maybe)
            self.rot_one(rot_first, 0.9)
        before = self.restorable()
        deleted = prune_backups(
            self.config, keep=keep, budget=budget, monotonic=lambda: next(self.ticks)
        )
        self.check(before, deleted, keep)

    @invariant()
    def status_names_only_what_exists(self):
        if not getattr(self, "config", None) or not self.present():
            return
        for problem in backup_status(self.config, clock=self.clock).problems:
            assert "off-site copy" not in problem.message  # none exists here
            assert "fetch" not in problem.message


def test_prune_never_loses_the_newest_restorable_backup_nor_trusts_the_unverified(app, make):
    make.media(make.site(), content=os.urandom(1_500_000), name="photo.jpg")  # rot can be quiet
    run_state_machine_as_test(
        lambda: Retention(app),
        settings=settings(
            max_examples=40,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
