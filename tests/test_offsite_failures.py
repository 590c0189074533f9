"""Off-site copies when the store fails: nothing local is lost, OFFSITE is shown, a retry heals."""

import json
import os

import pytest

from app.backup import runlog, runs
from app.backup.offsite import upload as offsite
from app.backup.status import backup_status
from app.backup.system import create_backup
from app.extensions import db
from app.models.types import utcnow
from app.storage import StorageError
from tests.backupkit import FakeClock
from tests.s3kit import CREDENTIALS, PART_SIZE, S3Server, new_bucket, s3_client


@pytest.fixture
def own_server():
    """A moto server of this test alone, which the test may stop and start again."""
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def store_app(make_app, own_server):
    app = make_app(
        BACKUP_STORAGE_URL=f"s3://{new_bucket(own_server.endpoint)}/nightly",
        BACKUP_STORAGE_ENDPOINT=own_server.endpoint,
        BACKUP_STORAGE_PART_SIZE=PART_SIZE,
        BACKUP_STORAGE_CONCURRENCY=1,  # one part at a time: "after the first part" is exact
        **CREDENTIALS,
    )
    with app.app_context():
        yield app


def offsite_problems(app, clock):
    return [p for p in backup_status(app.config, clock=clock).problems if p.label == "OFFSITE"]


def test_an_upload_that_fails_midway_leaves_no_copy_keeps_the_backup_and_heals_on_retry(
    store_app, own_server, make
):
    site = make.site(owner=make.user())
    make.media(site, content=os.urandom(3 * PART_SIZE), name="big.bin")
    clock = FakeClock()
    backup = create_backup(store_app.config, db.engine, clock=clock)
    parts = []

    def stop_after_first_part(number, sent):
        parts.append(number)
        if number == 1:
            own_server.stop()

    fields = offsite.after_backup(store_app.config, clock=clock, on_part=stop_after_first_part)
    assert parts == [1]  # the server stopped with parts still to send
    assert backup.size > 2 * PART_SIZE
    assert fields["offsite"] == "failed"
    assert backup.backup_id in fields["offsite_error"]
    assert backup.path.is_file()  # nothing local deleted
    problems = offsite_problems(store_app, clock)
    assert [p.code for p in problems] == ["offsite-failed"]
    assert "the local backups are kept" in problems[0].message

    # The store comes back (moto forgets its buckets when stopped: make it anew).
    own_server.start()
    s3_client(own_server.endpoint).create_bucket(
        Bucket=offsite.remote_store(store_app.config).bucket
    )
    assert offsite.remote_copies(store_app.config) == []  # no partial copy was ever listed
    result = store_app.test_cli_runner().invoke(args=["backup", "upload", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["offsite"] == "ok"
    copies = offsite.remote_copies(store_app.config)
    assert [c["backup_id"] for c in copies] == [backup.backup_id]
    with offsite.remote_store(store_app.config).open(copies[0]["object"]) as body:
        assert body.read() == backup.path.read_bytes()
    assert offsite_problems(store_app, clock) == []


def test_an_upload_cut_midway_is_aborted_on_a_live_store(store_app, make):
    site = make.site(owner=make.user())
    make.media(site, content=os.urandom(3 * PART_SIZE), name="big.bin")
    backup = create_backup(store_app.config, db.engine, clock=FakeClock())
    store = offsite.remote_store(store_app.config)

    def cut(number, sent):
        if number == 2:
            raise StorageError("connection reset")

    with pytest.raises(offsite.OffsiteError, match="connection reset"):
        offsite.upload_backup(store_app.config, backup.backup_id, store=store, on_part=cut)
    assert store.list() == []
    pending = s3_client(store.endpoint).list_multipart_uploads(Bucket=store.bucket)
    assert pending.get("Uploads", []) == []  # aborted: the store keeps no parts


def test_a_run_against_a_stopped_store_records_the_failure_and_stays_unhealthy(
    store_app, own_server, make
):
    make.user()
    own_server.stop()
    clock = utcnow  # the real clock: /healthz below reads it too
    record, outcome = runs.run_backup(store_app.config, db.engine, trigger="cli", clock=clock)
    assert record["outcome"] == "ok"  # the backup itself is good and kept
    assert record["offsite"] == "failed"
    assert "off-site copy of" in record["offsite_error"]
    assert outcome.path.is_file()
    assert runlog.recent_runs(store_app.config, limit=1, clock=clock)[0]["offsite"] == "failed"
    health = backup_status(store_app.config, clock=clock)
    assert not health.ok
    assert [p.label for p in health.problems] == ["OFFSITE"]
    assert health.to_dict()["last_run"]["offsite"] == "failed"
    response = store_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "offsite-failed"
    assert "s3://" not in response.get_data(as_text=True)
