"""Off-site copies on a real S3-compatible server over HTTP: upload, retention, fetch, restore."""

import base64
import hashlib
import json
import os

import pytest

from app import get_celery
from app.backup import runs
from app.backup.catalog import backup_path, backups_dir
from app.backup.offsite import fetch as offsite_fetch
from app.backup.offsite import upload as offsite
from app.backup.status import backup_status
from app.errors import DAMAGED, NOT_FOUND
from app.extensions import db
from app.storage import ObjectStore
from tests.backupkit import FakeClock, change_everything, full_state, seed_everything
from tests.s3kit import PART_SIZE, s3_client


@pytest.fixture
def s3_app(make_app, s3_config):
    """An app on SQLite whose backups are copied to a fresh bucket."""
    app = make_app(**s3_config)
    with app.app_context():
        yield app


@pytest.fixture
def runner(s3_app):
    """A CLI runner of ``s3_app``."""
    return s3_app.test_cli_runner()


def store_of(app):
    return offsite.remote_store(app.config)


def backup_now(app, clock=None, **kwargs):
    record, outcome = runs.run_backup(
        app.config, db.engine, trigger="cli", clock=clock or FakeClock(), skip_unchanged=False
    )
    return record, outcome


def composite_of(path):
    """The checksum a store records for ``path`` uploaded in PART_SIZE parts."""
    data = path.read_bytes()
    digests = [
        hashlib.sha256(data[i : i + PART_SIZE]).digest() for i in range(0, len(data), PART_SIZE)
    ]
    return base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode(), len(digests)


def test_a_backup_run_uploads_a_multipart_copy_the_store_checksummed(s3_app, make):
    seed_everything(make, media_files=2)
    big = make.site(owner=make.user(), subdomain="bigcamp")
    make.media(big, content=os.urandom(3 * PART_SIZE), name="big.jpg")  # several parts
    record, outcome = backup_now(s3_app)
    assert record["offsite"] == "ok"
    assert record["offsite_error"] is None

    store = store_of(s3_app)
    name = f"{outcome.backup_id}.tar.gz"
    head = store.head(name)
    local = outcome.path.read_bytes()
    checksum, parts = composite_of(outcome.path)
    assert parts > 1
    assert head.size == len(local)
    assert head.checksum.split("-")[0] == checksum  # the store's SHA-256 over the parts we sent
    with store.open(name) as body:
        assert body.read() == local
    description = json.loads(store.open(f"{outcome.backup_id}.json").read())
    assert description["sha256"] == hashlib.sha256(local).hexdigest()
    assert description["parts"] == parts
    assert description["encrypted"] is False
    assert offsite.read_record(s3_app.config)["copies"][outcome.backup_id] == description
    assert backup_status(s3_app.config, clock=FakeClock()).ok


def test_remote_retention_keeps_the_newest_copies_and_every_local_backup(make_app, make, s3_config):
    app = make_app(BACKUP_REMOTE_KEEP=2, **s3_config)
    clock = FakeClock()
    ids = []
    with app.app_context():
        make.user()
        for _ in range(4):
            record, outcome = backup_now(app, clock)
            ids.append(outcome.backup_id)
            clock.advance(days=1)
        remote = [c["backup_id"] for c in offsite.remote_copies(app.config)]
        assert remote == ids[:-3:-1]  # the newest two
        assert record["remote_pruned"] == [ids[1]]
        left = {o.name for o in store_of(app).list()}
        assert left == {f"{i}{suffix}" for i in ids[2:] for suffix in (".tar.gz", ".json")}
        archives = backups_dir(app.config).glob("stinkykitty-*.tar.gz")
        assert sorted(p.name[:-7] for p in archives) == ids


def test_keep_zero_never_deletes_the_newest_copy(s3_app, make):
    make.user()
    _, outcome = backup_now(s3_app)
    assert offsite.prune_remote(s3_app.config, keep=0) == []
    assert [c["backup_id"] for c in offsite.remote_copies(s3_app.config)] == [outcome.backup_id]


def test_fetch_places_the_verified_backup_byte_for_byte(s3_app, make, runner):
    seed_everything(make, media_files=4)
    _, outcome = backup_now(s3_app)
    original = outcome.path.read_bytes()
    outcome.path.unlink()

    listed = runner.invoke(args=["backup", "list", "--remote", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(c["backup_id"], c["local"]) for c in json.loads(listed.stdout)] == [
        (outcome.backup_id, False)
    ]
    result = runner.invoke(args=["backup", "fetch", outcome.backup_id])
    assert result.exit_code == 0, result.output
    assert backup_path(s3_app.config, outcome.backup_id).read_bytes() == original
    assert not list(backups_dir(s3_app.config).glob(".fetch.tmp-*"))

    again = runner.invoke(args=["backup", "fetch", outcome.backup_id])
    assert again.exit_code == 1
    assert "already here" in again.output


def test_a_damaged_remote_copy_is_refused_and_nothing_is_placed(s3_app, make, runner):
    make.user()
    _, outcome = backup_now(s3_app)
    tampered = bytearray(outcome.path.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    s3_client(s3_app.config["BACKUP_STORAGE_ENDPOINT"]).put_object(
        Bucket=store_of(s3_app).bucket,
        Key=store_of(s3_app).key(outcome.path.name),
        Body=bytes(tampered),
    )
    outcome.path.unlink()
    outcome.path.with_name(f"{outcome.backup_id}.sites.json").unlink()  # its site index too
    result = runner.invoke(args=["backup", "fetch", outcome.backup_id])
    assert result.exit_code == DAMAGED
    assert "damaged" in result.output
    assert len(result.output.strip().splitlines()) == 1
    placed = [p.name for p in backups_dir(s3_app.config).iterdir()]
    assert not [name for name in placed if name.startswith(("stinkykitty-", ".fetch"))]
    checked = runner.invoke(args=["backup", "verify-remote"])
    assert checked.exit_code == DAMAGED
    assert "DAMAGED" in checked.output
    assert "offsite-damaged" in [p.code for p in backup_status(s3_app.config).problems]


@pytest.mark.parametrize(
    "engine",
    ["sqlite", pytest.param("mariadb", marks=pytest.mark.integration),
     pytest.param("postgresql", marks=pytest.mark.integration)],
)  # fmt: skip
def test_restore_finds_a_backup_that_is_only_remote(make_app, s3_config, make, engine):
    app = make_app(engine, **s3_config)
    with app.app_context():
        seed_everything(make, media_files=4)
        before = full_state(app.config)
        _, outcome = backup_now(app)
        outcome.path.unlink()
        change_everything(make)
        assert full_state(app.config) != before

        result = app.test_cli_runner().invoke(
            args=["backup", "restore", outcome.backup_id, "--yes"]
        )
        assert result.exit_code == 0, result.output
        assert full_state(app.config) == before


def test_an_unknown_id_is_neither_here_nor_remote(s3_app, runner):
    result = runner.invoke(args=["backup", "restore", "stinkykitty-2020-01-01-000000", "--yes"])
    assert result.exit_code == NOT_FOUND
    assert "no backup stinkykitty-2020-01-01-000000 here nor in s3://" in result.output


def test_verify_remote_checks_heads_and_reads_one_copy_per_run_in_turn(s3_app, make):
    make.user()
    clock = FakeClock()
    ids = []
    for _ in range(2):
        ids.append(backup_now(s3_app, clock)[1].backup_id)
        clock.advance(hours=1)
    first = offsite_fetch.verify_remote(s3_app.config, clock=clock)
    clock.advance(days=1)
    second = offsite_fetch.verify_remote(s3_app.config, clock=clock)
    assert all(r["ok"] for r in first + second)
    read = [next(r["id"] for r in run if r["read"]) for run in (first, second)]
    assert sorted(read) == sorted(ids)  # each copy read in full once, one per run

    # A copy whose object changed size behind our back fails the HEAD check.
    store = store_of(s3_app)
    s3_client(store.endpoint).put_object(
        Bucket=store.bucket, Key=store.key(f"{ids[0]}.tar.gz"), Body=b"short"
    )
    results = offsite_fetch.verify_remote(s3_app.config, clock=clock, read_one=False)
    bad = [r for r in results if not r["ok"]]
    assert [r["id"] for r in bad] == [ids[0]]
    assert "size 5" in bad[0]["error"]


def test_the_store_is_a_plain_s3_client(s3_config, tmp_path):
    store = ObjectStore(
        s3_config["BACKUP_STORAGE_URL"],
        endpoint=s3_config["BACKUP_STORAGE_ENDPOINT"],
        config=s3_config,
        part_size=PART_SIZE,
    )
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 1000)  # 256000 bytes: 4 parts
    writer = store.upload_file("blob", path)
    assert writer.parts == 4
    assert writer.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert store.open("blob").read() == path.read_bytes()
    assert [o.name for o in store.list()] == ["blob"]
    store.delete("blob")
    assert store.head("blob") is None


def test_beat_checks_the_remote_copies_daily_with_a_registered_task(s3_app, make):
    celery_app = get_celery(s3_app)
    entry = celery_app.conf.beat_schedule["verify-remote-backups"]
    assert entry["task"] == "stinkykitty.verify_remote_backups"
    assert entry["task"] in celery_app.tasks
    make.user()
    _, outcome = backup_now(s3_app)
    from app.tasks.offsite import verify_remote_backups

    assert verify_remote_backups() == {"ok": True, "checked": 1, "failures": []}
    outcome.path.unlink()  # a local loss does not touch the remote copy
    assert verify_remote_backups()["ok"] is True


def test_list_remote_names_each_copy_and_whether_it_is_here(s3_app, make, runner):
    make.user()
    clock = FakeClock()
    first = backup_now(s3_app, clock)[1]
    clock.advance(hours=1)
    second = backup_now(s3_app, clock)[1]
    first.path.unlink()
    lines = runner.invoke(args=["backup", "list", "--remote"]).stdout.splitlines()
    assert lines[0].split() == ["ID", "SIZE", "AGE", "ENCRYPTED", "HERE"]
    assert [(line.split()[0], line.split()[-2:]) for line in lines[1:]] == [
        (second.backup_id, ["no", "yes"]),
        (first.backup_id, ["no", "no"]),
    ]


def test_without_storage_the_remote_commands_say_how_to_set_it(app):
    result = app.test_cli_runner().invoke(args=["backup", "list", "--remote"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: no off-site storage configured: set BACKUP_STORAGE_URL=s3://bucket/prefix\n"
    )


def test_a_copy_made_under_another_backup_key_is_refused_unless_allowed(make_app, s3_config, make):
    maker = make_app(**s3_config)
    with maker.app_context():
        make.user()
        _, outcome = backup_now(maker)
    other = make_app(BACKUP_KEY="another-deployments-key", **s3_config)
    with other.app_context():
        runner = other.test_cli_runner()
        refused = runner.invoke(args=["backup", "fetch", outcome.backup_id])
        assert refused.exit_code == DAMAGED
        assert len(refused.output.strip().splitlines()) == 1
        assert not backups_dir(other.config).joinpath(outcome.path.name).exists()
        allowed = runner.invoke(
            args=["backup", "fetch", outcome.backup_id, "--allow-unauthenticated"]
        )
        assert allowed.exit_code == 0, allowed.output
        assert backups_dir(other.config).joinpath(outcome.path.name).read_bytes() == (
            outcome.path.read_bytes()
        )
