"""Off-site copies encrypted to age recipients: the store never holds a readable archive."""

import os

import pytest
from pyrage import x25519

from app.backup import runs
from app.backup.catalog import backup_path
from app.backup.offsite import upload as offsite
from app.extensions import db
from tests.backupkit import FakeClock, change_everything, full_state, seed_everything
from tests.s3kit import PART_SIZE


@pytest.fixture
def identity(tmp_path):
    """An age identity file (as `age-keygen` writes it) and its recipient."""
    key = x25519.Identity.generate()
    path = tmp_path / "backup-identity.txt"
    path.write_text(f"# created: today\n# public key: {key.to_public()}\n{key}\n")
    return path, str(key.to_public())


@pytest.fixture
def age_app(make_app, s3_config, identity):
    other = x25519.Identity.generate().to_public()  # a second recipient, e.g. the ops safe
    app = make_app(
        BACKUP_AGE_RECIPIENTS=f"{identity[1]}, {other}",
        BACKUP_AGE_IDENTITY_FILE=str(identity[0]),
        **s3_config,
    )
    with app.app_context():
        yield app


def test_encrypted_copies_round_trip_through_fetch_and_restore(age_app, make):
    seed_everything(make, media_files=2)
    make.media(make.site(owner=make.user()), content=os.urandom(2 * PART_SIZE), name="x.bin")
    before = full_state(age_app.config)
    record, outcome = runs.run_backup(age_app.config, db.engine, trigger="cli", clock=FakeClock())
    assert record["offsite"] == "ok"
    original = outcome.path.read_bytes()

    store = offsite.remote_store(age_app.config)
    (copy,) = offsite.remote_copies(age_app.config)
    assert copy["encrypted"] is True
    assert copy["object"] == f"{outcome.backup_id}.tar.gz.age"
    with store.open(copy["object"]) as body:
        stored = body.read()
    assert stored.startswith(b"age-encryption.org/v1\n")
    assert original[:4096] not in stored
    assert b"manifest.json" not in stored
    assert copy["parts"] > 1

    outcome.path.unlink()
    change_everything(make)
    runner = age_app.test_cli_runner()
    result = runner.invoke(args=["backup", "restore", outcome.backup_id, "--yes"])
    assert result.exit_code == 0, result.output
    assert backup_path(age_app.config, outcome.backup_id).read_bytes() == original
    assert full_state(age_app.config) == before


def test_without_the_identity_an_encrypted_copy_is_refused_and_nothing_placed(
    make_app, s3_config, identity, tmp_path
):
    app = make_app(BACKUP_AGE_RECIPIENTS=identity[1], **s3_config)
    with app.app_context():
        app_runner = app.test_cli_runner()
        _, outcome = runs.run_backup(app.config, db.engine, trigger="cli", clock=FakeClock())
        outcome.path.unlink()
        missing = app_runner.invoke(args=["backup", "fetch", outcome.backup_id])
        assert missing.exit_code == 1
        assert "set BACKUP_AGE_IDENTITY_FILE" in missing.output

        wrong = tmp_path / "wrong.txt"
        wrong.write_text(f"{x25519.Identity.generate()}\n")
        app.config["BACKUP_AGE_IDENTITY_FILE"] = str(wrong)
        refused = app_runner.invoke(args=["backup", "fetch", outcome.backup_id])
        assert refused.exit_code == 1
        assert "could not decrypt" in refused.output
        assert not outcome.path.exists()
        assert not list(outcome.path.parent.glob(".fetch.tmp-*"))


def test_a_malformed_recipient_fails_the_copy_with_a_clear_reason(make_app, s3_config):
    app = make_app(BACKUP_AGE_RECIPIENTS="age1notakey", **s3_config)
    with app.app_context():
        record, outcome = runs.run_backup(app.config, db.engine, trigger="cli", clock=FakeClock())
    assert record["offsite"] == "failed"
    assert "BACKUP_AGE_RECIPIENTS" in record["offsite_error"]
    assert outcome.path.is_file()
