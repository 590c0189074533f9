"""Retention with tiers: the rules keep good backups only, and say which rule keeps each."""

import datetime as dt
import json
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.backup import tiers, verification
from app.backup.catalog import backup_files, backups_dir, id_time, list_backups
from app.backup.system import create_backup, prune_backups
from app.extensions import db
from app.models.types import utcnow
from tests.backupkit import FakeClock, rot

TIERS = {
    "BACKUP_KEEP_DAILY": 2,
    "BACKUP_KEEP_WEEKLY": 2,
    "BACKUP_KEEP_MONTHLY": 2,
    "BACKUP_TIMEZONE": "Europe/Berlin",
}


def made_at(app, when):
    """Make a backup as if at ``when`` (naive UTC)."""
    return create_backup(app.config, db.engine, clock=lambda: when, skip_unchanged=False)


def present(app):
    return [info.backup_id for info in list_backups(app.config)]


def season(app, make):
    """Seven backups from May to July, D damaged, G (the newest) never verified; see below."""
    make.site()
    times = {
        "A": dt.datetime(2026, 5, 31, 23, 30),  # June 1st in Berlin
        "B": dt.datetime(2026, 6, 1, 12, 0),
        "C": dt.datetime(2026, 6, 2, 2, 0),
        "D": dt.datetime(2026, 6, 9, 2, 0),
        "E": dt.datetime(2026, 6, 10, 2, 0),
        "F": dt.datetime(2026, 7, 1, 2, 0),
        "G": dt.datetime(2026, 7, 1, 3, 0),
    }
    made = {name: made_at(app, when) for name, when in times.items()}  # BACKUP_KEEP 10 keeps all
    rot(made["D"])
    for name in "ABCDEF":
        verification.check_backup(app.config, made[name].backup_id)
    app.config.update(TIERS, BACKUP_KEEP=1)
    return {name: outcome.backup_id for name, outcome in made.items()}


# Last 1, daily 2, weekly 2, monthly 2 in Berlin, over the good ones (A B C E F):
# last: F; daily: July 1st (F), June 10 (E), June 2 (C); weekly: W27 (F), W24 (E),
# W23 (C), and no more weeks; monthly: July (F), June (E), and no more months: monthly,
# the last rule on, is short and keeps the oldest, A. B (June 1st, not its newest) goes.
EXPECTED = {
    "G": ["unverified"],
    "F": ["last", "daily", "weekly", "monthly"],
    "E": ["daily", "weekly", "monthly"],
    "D": ["damaged"],
    "C": ["daily", "weekly"],
    "B": [],
    "A": ["monthly[oldest]"],
}


def test_prune_dry_run_says_which_rule_keeps_each_backup_and_changes_nothing(app, make, runner):
    ids = season(app, make)
    results = verification.read_results(app.config)
    said = runner.invoke(args=["backup", "prune", "--dry-run", "--json"])
    assert said.exit_code == 0, said.output
    data = json.loads(said.stdout)
    assert data["dry_run"] is True
    assert data["would_delete"] == [ids["B"]]
    assert [b["id"] for b in data["backups"]] == [ids[n] for n in "GFEDCBA"]
    assert {b["id"]: b["kept_by"] for b in data["backups"]} == {
        ids[name]: kept_by for name, kept_by in EXPECTED.items()
    }
    why = {b["id"]: b["why"] for b in data["backups"]}
    assert why[ids["C"]] == (
        "the newest verified backup of day 2026-06-02; the newest verified backup of week 2026-W23"
    )
    assert why[ids["A"]] == "the oldest verified backup (monthly keeps 2, found fewer months)"
    assert present(app) == [ids[n] for n in "GFEDCBA"]  # nothing deleted,
    assert verification.read_results(app.config) == results  # nor verified

    text = runner.invoke(args=["backup", "prune", "--dry-run"]).stdout.splitlines()
    assert text[0] == f"Would delete 1 old backup(s): {ids['B']}."
    assert text[1] == f"Keep {ids['G']}: not verified yet; it counts once it passes."
    assert text[2].startswith(f"Keep {ids['F']} (last, daily, weekly, monthly): one of the newest")
    assert text[4].startswith(f"Keep {ids['D']}: damaged, not counted; check and delete it")
    assert text[6] == f"Delete {ids['B']}: no rule keeps it."
    assert text[7] == f"Keep {ids['A']} (monthly[oldest]): " + why[ids["A"]] + "."
    assert text[8].startswith("1 backup(s) not verified yet: prune verifies them first")


def test_list_json_says_kept_by_and_prune_verifies_first_then_follows_the_rules(app, make, runner):
    ids = season(app, make)
    listed = json.loads(runner.invoke(args=["backup", "list", "--json"]).stdout)
    assert {d["id"]: d["kept_by"] for d in listed} == {
        ids[name]: kept_by for name, kept_by in EXPECTED.items()
    }
    said = runner.invoke(args=["backup", "prune", "--json"])
    assert json.loads(said.stdout) == {"deleted": [ids["F"], ids["B"]]}  # G passed: F's day
    listed = json.loads(runner.invoke(args=["backup", "list", "--json"]).stdout)
    assert {d["id"]: d["kept_by"] for d in listed} == {
        ids["G"]: ["last", "daily", "weekly", "monthly"],
        ids["E"]: ["daily", "weekly", "monthly"],
        ids["D"]: ["damaged"],
        ids["C"]: ["daily", "weekly"],
        ids["A"]: ["monthly[oldest]"],
    }
    again = runner.invoke(args=["backup", "prune"])
    assert again.stdout.splitlines()[:2] == [
        "Nothing to delete.",
        f"Kept {ids['G']} (last, daily, weekly, monthly): one of the newest 1 verified backups; "
        "the newest verified backup of day 2026-07-01; the newest verified backup of week "
        "2026-W27; the newest verified backup of month 2026-07.",
    ]


def test_without_tiers_list_json_says_last(app, make, runner):
    make.site()
    first = made_at(app, dt.datetime(2026, 6, 1, 2))
    verification.check_backup(app.config, first.backup_id)
    made_at(app, dt.datetime(2026, 6, 2, 2))
    listed = json.loads(runner.invoke(args=["backup", "list", "--json"]).stdout)
    assert [d["kept_by"] for d in listed] == [["unverified"], ["last"]]
    said = runner.invoke(args=["backup", "prune", "--dry-run", "--keep", "1"]).stdout.splitlines()
    assert said[2] == f"Keep {first.backup_id} (last): one of the newest 1 verified backups."


# --- any mix of gaps, rot, verification and pruning under tiers -----------------------------

POLICY = {"BACKUP_KEEP": 2, "BACKUP_KEEP_DAILY": 2, "BACKUP_KEEP_WEEKLY": 2}
POLICY.update(BACKUP_KEEP_MONTHLY=2, BACKUP_KEEP_YEARLY=1, BACKUP_TIMEZONE="America/New_York")


def rot_at(path, at):
    """Flip one byte at fraction ``at`` of the file: a later write (its mtime moves on)."""
    stat = path.stat()
    raw = bytearray(path.read_bytes())
    raw[int(len(raw) * at)] ^= 0x01
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


class TieredRetention(RuleBasedStateMachine):
    """Backups a few minutes to months apart, rotted, verified and pruned in any order."""

    def __init__(self, app):
        super().__init__()
        self.app, self.config = app, app.config
        self.clock = FakeClock(utcnow() - dt.timedelta(days=3 * 365))
        self.rotten = set()  # the truth: ids whose bytes changed
        self.ticks = iter(range(10**9))
        folder = backups_dir(self.config)
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            path.unlink()

    @initialize()
    def start(self):
        self.config.update(POLICY, BACKUP_VERIFY_BUDGET=3600)

    def present(self):
        return sorted((p.name[: -len(".tar.gz")] for p in backup_files(self.config)), reverse=True)

    def good(self):
        """The backups whose last verification passed on the file as it is now, newest first."""
        standing = verification.standing(self.config)
        return [i for i in self.present() if standing.get(i) == "good"]

    def restorable(self):
        return [i for i in self.present() if i not in self.rotten]

    def check(self, before, deleted):
        """What a retention that deleted ``deleted`` must have kept (``before``: restorable)."""
        newest = next(iter(before), None)
        assert newest is None or newest in self.present(), "the newest restorable backup went"
        results = verification.read_results(self.config)
        damaged = {i for i, r in results.items() if not r.get("ok")}
        assert not damaged & set(deleted), "a damaged backup was deleted automatically"
        if not deleted:
            return
        good = self.good()
        assert not set(good) & self.rotten  # (a rotten file is never good: its mtime moved)
        newer = [i for i in good if i > max(deleted)]
        assert len(newer) >= POLICY["BACKUP_KEEP"], f"deleted {deleted}, {len(newer)} good newer"
        policy = tiers.policy_from_config(self.config, POLICY["BACKUP_KEEP"])
        chosen = tiers.kept_by([(i, id_time(i)) for i in good], policy)
        assert set(chosen) == set(good), "a good backup stays that the rules do not keep"

    @rule(
        gap=st.one_of(
            st.integers(1, 600).map(lambda m: {"minutes": m}),
            st.integers(1, 3).map(lambda d: {"days": d}),
            st.integers(20, 200).map(lambda d: {"days": d}),  # a dead season
        ),
        budget=st.sampled_from([0, 3600]),
    )
    def backup(self, gap, budget):
        self.config["BACKUP_VERIFY_BUDGET"] = budget
        self.clock.advance(**gap)
        before = self.restorable()
        present = set(self.present())
        outcome = create_backup(self.config, db.engine, clock=self.clock, skip_unchanged=False)
        self.check([outcome.backup_id, *before], sorted(present - set(self.present())))

    @precondition(lambda self: self.present())
    @rule(which=st.integers(0, 30), at=st.sampled_from([0.1, 0.9]))
    def rot_one(self, which, at):
        present = self.present()
        chosen = present[which % len(present)] if present else None
        if chosen is not None and chosen not in self.rotten:  # (a second flip would undo it)
            rot_at(backups_dir(self.config) / f"{chosen}.tar.gz", at)
            self.rotten.add(chosen)

    @precondition(lambda self: self.present())
    @rule(which=st.integers(0, 30))
    def verify_one(self, which):
        present = self.present()
        if present:
            verification.check_backup(self.config, present[which % len(present)])

    @precondition(lambda self: self.present())
    @rule(budget=st.sampled_from([0, 1, 3600]), rot_first=st.sampled_from([None, 0, 1]))
    def prune(self, budget, rot_first):
        if rot_first is not None:  # one of the newest rots just before (after it passed, maybe)
            self.rot_one(rot_first, 0.9)
        before = self.restorable()
        deleted = prune_backups(self.config, budget=budget, monotonic=lambda: next(self.ticks))
        self.check(before, deleted)


def test_tiered_retention_never_deletes_the_newest_restorable_backup_nor_a_damaged_one(app, make):
    make.media(make.site(), content=os.urandom(1_500_000), name="photo.jpg")  # rot can be quiet
    run_state_machine_as_test(
        lambda: TieredRetention(app),
        settings=settings(
            max_examples=40,
            stateful_step_count=16,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
