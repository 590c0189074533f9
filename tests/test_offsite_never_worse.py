"""Off-site never gets worse, whatever the runs meet: a store that is down, dies mid-upload or
flickers, local rot (before or during an upload), and verification results that fail backups.

The store is the real S3-compatible server over HTTP; faults come from a switch placed in
front of the real boto3 client (``FaultyClient``), never from a store mocked away. What the
store holds is judged by the test alone: each copy is downloaded, its SHA-256 compared with
its description and its archive fully verified with the deployment's key.
"""

import datetime as dt
import hashlib
import json
import os
import threading

import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.archive import verify_archive
from app.backup import verification
from app.backup.catalog import backup_files, backups_dir
from app.backup.errors import BackupError
from app.backup.offsite import fetch as offsite_fetch
from app.backup.offsite import upload as offsite
from app.backup.status import backup_status
from app.backup.system import create_backup
from app.config import archive_key
from app.extensions import db
from app.models.types import utcnow
from app.storage import ObjectStore
from tests.backupkit import FakeClock
from tests.s3kit import PART_SIZE, drop_bucket, new_bucket, s3_client

REMOTE_KEEP = 2
PART = 4 * PART_SIZE  # backups of about 1.3 MB go in about 5 parts
MEDIA = 1_300_000  # large enough that rot late in a file leaves its manifest readable


class FaultyClient:
    """The store's real boto3 client behind a switch: calls fail while the store is "down".

    ``plan(down=(first, end))`` takes the store down from its ``first`` call of the run
    until before call ``end`` (None: to the end of the run); ``cut_part=k`` takes it down
    when part ``k`` of an upload is sent, for ``outage`` calls (None: to the end of the run).
    """

    def __init__(self, real):
        self.real = real
        self.lock = threading.Lock()
        self.plan()

    def plan(self, down=None, cut_part=None, outage=None, refuse=()):
        self.calls, self.log = 0, []
        self.down, self.cut_part, self.outage = down, cut_part, outage
        self.refuse = set(refuse)  # requests (boto3 method names) that fail all run long

    def is_down(self, number):
        if self.down is None:
            return False
        first, end = self.down
        return number >= first and (end is None or number < end)

    @property
    def answered_last(self):
        """Whether the run's last request reached a store that was up."""
        return bool(self.log) and not self.log[-1][2]

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self.lock:
                self.calls += 1
                number = self.calls
                if name == "upload_part" and kwargs.get("PartNumber") == self.cut_part:
                    self.down = (number, None if self.outage is None else number + self.outage)
                    self.cut_part = None
                down = self.is_down(number) or name in self.refuse
                self.log.append((number, name, down, kwargs.get("Key")))
            if down:
                raise EndpointConnectionError(endpoint_url=self.real.meta.endpoint_url)
            return attr(*args, **kwargs)

        return call


def rot_file(path, at):
    """Flip one byte at fraction ``at`` of the file: a later write (its mtime moves on)."""
    stat = path.stat()
    raw = bytearray(path.read_bytes())
    raw[int(len(raw) * at)] ^= 0x01
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


faults = st.one_of(
    st.just({}),
    st.builds(lambda n: {"down": (n, None)}, st.integers(1, 40)),  # dies for the rest of the run
    st.builds(lambda n: {"down": (1, n)}, st.integers(2, 40)),  # down, then back mid-run
    st.builds(lambda n, k: {"down": (n, n + k)}, st.integers(1, 40), st.integers(1, 8)),
    st.builds(
        lambda k, outage: {"cut_part": k, "outage": outage},  # cut mid-upload
        st.integers(1, 4),
        st.sampled_from([None, 1, 3]),
    ),
)


class OffsiteRuns(RuleBasedStateMachine):
    """Backups, rot, verification results and off-site runs with faults, in any order."""

    def __init__(self, app, endpoint):
        super().__init__()
        self.app, self.config, self.endpoint = app, app.config, endpoint
        self.clock = FakeClock(utcnow() - dt.timedelta(days=400))
        self.rotten = set()
        self.rotten_remote = set()  # copies damaged in the store, not yet checked
        self.bucket = new_bucket(endpoint)
        self.config["BACKUP_STORAGE_URL"] = f"s3://{self.bucket}/nightly"
        real = ObjectStore.from_config(self.config, "BACKUP_STORAGE")
        self.client = FaultyClient(real.client)
        self.store = ObjectStore.from_config(self.config, "BACKUP_STORAGE")
        self.store._client = self.client
        folder = backups_dir(self.config)
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            path.unlink()

    def teardown(self):
        drop_bucket(self.endpoint, self.bucket)

    # --- what the store holds, judged by the test alone ---------------------------

    def raw(self):
        return s3_client(self.endpoint)

    def store_copies(self):
        """Return ({id: description} of described copies, ids whose archive verifies)."""
        client, prefix = self.raw(), "nightly/"
        keys = [
            o["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for o in page.get("Contents", [])
        ]
        described, good = {}, set()
        for key in keys:
            if not key.endswith(".json"):
                continue
            description = json.loads(client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            described[description["backup_id"]] = description
            archive = prefix + description["object"]
            if archive not in keys:
                continue  # half deleted by retention
            data = client.get_object(Bucket=self.bucket, Key=archive)["Body"].read()
            if hashlib.sha256(data).hexdigest() != description["sha256"]:
                continue
            scratch = backups_dir(self.config).parent / "judged.tar.gz"
            scratch.write_bytes(data)
            try:
                verify_archive(scratch, key=archive_key(self.config))
                good.add(description["backup_id"])
            except BackupError:
                pass
            finally:
                scratch.unlink()
        return described, good

    def pending_uploads(self):
        return self.raw().list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])

    def present(self):
        return sorted((p.name[: -len(".tar.gz")] for p in backup_files(self.config)), reverse=True)

    # --- the rules -----------------------------------------------------------------

    @initialize()
    def first_backup(self):
        self.backup()

    @rule()
    def backup(self):
        self.clock.advance(days=1)
        create_backup(self.config, db.engine, clock=self.clock, skip_unchanged=False)

    @rule(which=st.integers(0, 20))
    def rot_in_the_store(self, which):
        """A copy's archive changes in the store (the provider's fault, or an attacker's)."""
        client, prefix = self.raw(), "nightly/"
        described, _ = self.store_copies()
        if described:
            description = sorted(described.values(), key=lambda d: d["backup_id"])[
                which % len(described)
            ]
            key = prefix + description["object"]
            try:
                data = bytearray(client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            except client.exceptions.NoSuchKey:
                return
            data[len(data) // 2] ^= 0x01
            client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data))
            self.rotten_remote.add(description["backup_id"])

    @rule()
    def check_the_copies(self):
        """The nightly check of the copies (HEAD each, read one in full), with the store up."""
        offsite_fetch.verify_remote(self.config, store=self.store, clock=self.clock)
        bad = set((offsite.read_record(self.config).get("verified") or {}).get("bad", []))
        self.rotten_remote -= bad  # known now

    @rule(which=st.integers(0, 20), at=st.sampled_from([0.1, 0.95]))
    def rot_local(self, which, at):
        present = self.present()
        chosen = present[which % len(present)] if present else None
        if chosen is not None and chosen not in self.rotten:  # (a second flip would undo it)
            rot_file(backups_dir(self.config) / f"{chosen}.tar.gz", at)
            self.rotten.add(chosen)

    @rule(which=st.integers(0, 20))
    def verification_fails(self, which):
        """A verification result that fails a backup (whatever its bytes)."""
        present = self.present()
        if present:
            chosen = present[which % len(present)]
            failed = {"verified_at": "2025-01-01T00:00:00Z", "ok": False, "error": "injected"}
            verification.record_result(self.config, chosen, failed)

    @rule(budget=st.sampled_from([0, 3600]))
    def verify_kept(self, budget):
        verification.verify_due(self.config, budget=budget, clock=self.clock)

    @precondition(lambda self: self.present())
    @rule(
        fault=faults,
        new_backup=st.booleans(),
        rot_first=st.sampled_from([None, 0.1, 0.95]),
        rot_during=st.sampled_from([None, 0.1, 0.95]),
    )
    def offsite_run(self, fault, new_backup, rot_first, rot_during):
        """A backup run (or a retry of the copy alone) meeting faults and rot."""
        if new_backup:
            self.backup()
        if rot_first is not None:  # the newest backup rots just before the run
            self.rot_local(0, rot_first)
        self.run(fault, rot_during)

    @precondition(lambda self: self.present())
    @rule(new_backup=st.booleans(), rot_during=st.sampled_from([None, 0.95]))
    def offsite_run_store_up(self, new_backup, rot_during):
        """A run that meets no fault of the store."""
        if new_backup:
            self.backup()
        self.run({}, rot_during)

    def run(self, fault, rot_during):
        """One off-site run (as after a backup) meeting ``fault``; check what it left."""
        described_before, good_before = self.store_copies()
        damaged_before = set(verification.damaged_ids(self.config))
        self.client.plan(**fault)

        def on_part(number, sent):  # the local file rots while it is being sent
            nonlocal rot_during
            if rot_during is not None and number == 1:
                key = next(e[3] for e in reversed(self.client.log) if e[1].startswith("create"))
                sent = key.rsplit("/", 1)[-1].removesuffix(".tar.gz")  # the backup being sent
                if sent not in self.rotten:
                    rot_file(backups_dir(self.config) / f"{sent}.tar.gz", rot_during)
                    self.rotten.add(sent)
                rot_during = None

        fields = offsite.after_backup(
            self.config, clock=self.clock, store=self.store, on_part=on_part
        )
        assert fields.get("offsite") in (None, "ok", "failed")
        described_after, good_after = self.store_copies()

        # The count of verified-good copies never falls, but to BACKUP_REMOTE_KEEP.
        assert len(good_after) >= min(len(good_before), REMOTE_KEEP), (good_before, good_after)
        if good_before - good_after:
            assert len(good_after) >= REMOTE_KEEP, "a good copy went with too few left"
        # Every copy uploaded verifies, and none was of a backup already failed.
        new = {i for i, d in described_after.items() if d != described_before.get(i)}
        assert new <= good_after, f"a copy that does not verify was uploaded: {new - good_after}"
        assert not new & damaged_before, "a backup that failed verification was uploaded"
        # A run whose last request was answered leaves no parts behind.
        if self.client.answered_last:
            assert self.pending_uploads() == [], self.client.log[-5:]
        self.client.plan()

    @invariant()
    def status_offers_only_good_copies(self):
        """A damaged backup's advice names an off-site copy only when it is verified-good."""
        if not getattr(self, "bucket", None) or not self.present():
            return
        _, good = self.store_copies()
        for problem in backup_status(self.config, clock=self.clock).problems:
            if problem.code != "damaged":
                continue
            if not good | self.rotten_remote:  # (damage in the store is known once checked)
                assert "off-site copy" not in problem.message, problem.message
            for backup_id in offsite.known_good_copies(self.config):
                offered = (
                    f"the verified off-site copy {backup_id}" in problem.message
                    or f"`flask backup fetch {backup_id}`" in problem.message
                )
                assert not offered or backup_id in good | self.rotten_remote, problem.message


@pytest.fixture
def offsite_app(make_app, s3_config):
    app = make_app(
        **{**s3_config, "BACKUP_STORAGE_CONCURRENCY": 1, "BACKUP_STORAGE_PART_SIZE": PART},
        BACKUP_REMOTE_KEEP=REMOTE_KEEP,
        BACKUP_KEEP=3,
    )
    with app.app_context():
        yield app


def test_offsite_copies_never_get_worse_and_leave_no_parts(offsite_app, make, s3_server):
    make.media(make.site(), content=os.urandom(MEDIA), name="photo.jpg")
    run_state_machine_as_test(
        lambda: OffsiteRuns(offsite_app, s3_server),
        settings=settings(
            max_examples=15,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_status_advises_an_offsite_copy_only_when_a_verified_one_exists(offsite_app, make):
    """A damaged backup's advice names the off-site copy only once one is verified-good."""
    make.user()
    clock = FakeClock()
    first = create_backup(offsite_app.config, db.engine, clock=clock)
    store = offsite.remote_store(offsite_app.config)
    failed = {"verified_at": "2025-01-01T00:00:00Z", "ok": False, "error": "injected"}
    verification.record_result(offsite_app.config, first.backup_id, failed)

    def advice():
        problems = backup_status(offsite_app.config, clock=clock).problems
        return next(p.message for p in problems if p.code == "damaged")

    assert offsite.after_backup(offsite_app.config, clock=clock) == {}  # nothing intact to copy
    assert store.list() == []
    assert "off-site copy" not in advice()
    assert "make one now" in advice()

    clock.advance(days=1)
    second = create_backup(offsite_app.config, db.engine, clock=clock, skip_unchanged=False)
    assert offsite.after_backup(offsite_app.config, clock=clock)["offsite"] == "ok"
    assert f"the verified off-site copy {second.backup_id}" in advice()
    assert [c["backup_id"] for c in offsite.remote_copies(offsite_app.config)] == [second.backup_id]


def test_an_upload_cut_with_the_store_gone_is_aborted_by_the_next_run(offsite_app, make, s3_server):
    make.media(make.site(), content=os.urandom(MEDIA), name="photo.jpg")
    runs = OffsiteRuns(offsite_app, s3_server)
    try:
        runs.backup()
        runs.client.plan(cut_part=2)  # the store dies with the second part: no abort reaches it
        assert offsite.after_backup(offsite_app.config, store=runs.store)["offsite"] == "failed"
        assert len(runs.pending_uploads()) == 1
        runs.client.plan()
        assert offsite.after_backup(offsite_app.config, store=runs.store)["offsite"] == "ok"
        assert runs.pending_uploads() == []
    finally:
        runs.teardown()


def test_a_backup_that_rots_before_or_while_it_is_sent_is_never_the_copy(
    offsite_app, make, s3_server
):
    make.media(make.site(), content=os.urandom(MEDIA), name="photo.jpg")
    runs = OffsiteRuns(offsite_app, s3_server)
    try:
        runs.backup()
        good = sorted(runs.present())[0]
        runs.backup()
        runs.rot_local(which=0, at=0.95)  # the newest, quietly: its manifest still reads
        assert verification.standing(offsite_app.config)[runs.present()[0]] == "unverified"
        runs.run({}, rot_during=None)
        assert runs.store_copies()[1] == {good}  # the older, intact one went instead
        runs.backup()
        runs.run({}, rot_during=0.95)  # rots while its first part is sent
        assert runs.store_copies()[1] == {good}
    finally:
        runs.teardown()


def test_remote_retention_never_trades_a_good_copy_for_a_damaged_one(offsite_app, make, s3_server):
    """Copies A, B, C with B damaged in the store: keeping two good ones keeps A."""
    make.media(make.site(), content=os.urandom(MEDIA), name="photo.jpg")
    runs = OffsiteRuns(offsite_app, s3_server)
    try:
        for _ in range(2):
            runs.offsite_run_store_up(new_backup=True, rot_during=None)
        a, b = sorted(runs.store_copies()[1])
        runs.rot_in_the_store(which=1)
        assert runs.store_copies()[1] == {a}
        runs.offsite_run_store_up(new_backup=True, rot_during=None)  # C: retention runs
        described, good = runs.store_copies()
        assert a in good
        assert len(good) == REMOTE_KEEP
        assert b in described  # not counted, newer than the oldest kept: a person looks
        runs.offsite_run_store_up(new_backup=True, rot_during=None)  # D: A and B may go now
        described, good = runs.store_copies()
        assert set(described) == good
        assert len(good) == REMOTE_KEEP
    finally:
        runs.teardown()


def test_a_second_offsite_run_steps_aside_while_one_works(offsite_app, make):
    """One off-site run per data dir: so a run may abort every unfinished upload it finds."""
    make.user()
    create_backup(offsite_app.config, db.engine, clock=FakeClock())
    with offsite.offsite_lock(offsite_app.config):
        fields = offsite.after_backup(offsite_app.config)
        with pytest.raises(offsite.OffsiteBusy):
            offsite.upload_now(offsite_app.config, backup_files(offsite_app.config)[0].name)
    assert fields["offsite"] == "skipped"
    assert "another off-site copy is being made" in fields["offsite_error"]
    assert offsite.remote_store(offsite_app.config).list() == []
    assert offsite.read_record(offsite_app.config)["last"] is None  # the holder records its own
    assert offsite.after_backup(offsite_app.config)["offsite"] == "ok"


def test_a_copy_damaged_in_the_store_is_replaced_by_the_next_run(offsite_app, make, s3_server):
    make.media(make.site(), content=os.urandom(MEDIA), name="photo.jpg")
    runs = OffsiteRuns(offsite_app, s3_server)
    try:
        runs.offsite_run_store_up(new_backup=True, rot_during=None)
        (newest,) = runs.store_copies()[1]
        runs.rot_in_the_store(which=0)
        runs.check_the_copies()  # the nightly check finds it
        assert runs.store_copies()[1] == set()
        assert offsite.known_good_copies(offsite_app.config) == []
        runs.offsite_run_store_up(new_backup=False, rot_during=None)
        assert runs.store_copies()[1] == {newest}
        assert offsite.known_good_copies(offsite_app.config) == [newest]
    finally:
        runs.teardown()


def test_an_archive_left_without_its_description_goes_once_enough_copies_are_good(
    offsite_app, make, s3_server
):
    make.media(make.site(), content=os.urandom(MEDIA), name="photo.jpg")
    runs = OffsiteRuns(offsite_app, s3_server)
    try:
        runs.backup()
        runs.client.plan(refuse={"put_object"})  # the archive goes up, its description not
        assert offsite.after_backup(offsite_app.config, store=runs.store)["offsite"] == "failed"
        (orphan,) = [o.name for o in offsite.remote_store(offsite_app.config).list()]
        runs.client.plan()
        for _ in range(REMOTE_KEEP - 1):
            runs.offsite_run_store_up(new_backup=True, rot_during=None)
            names = [o.name for o in offsite.remote_store(offsite_app.config).list()]
            assert orphan in names  # while fewer good copies than kept are newer, it stays
        runs.offsite_run_store_up(new_backup=True, rot_during=None)
        names = [o.name for o in offsite.remote_store(offsite_app.config).list()]
        assert orphan not in names
        assert len(runs.store_copies()[1]) == REMOTE_KEEP
    finally:
        runs.teardown()
