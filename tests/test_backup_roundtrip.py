"""A system backup restores every row and every media byte, on each engine and across engines."""

import logging
import shutil

import pytest
import sqlalchemy as sa

from app.backup.catalog import backups_dir
from app.backup.system import create_backup, restore_backup, verify_backup
from app.extensions import db
from app.models import Block, Page
from tests.backupkit import change_everything, full_state, leftovers, seed_everything

pytestmark = pytest.mark.integration


def test_round_trip_restores_every_row_and_every_file(any_app, make, caplog):
    config = any_app.config
    seed_everything(make)
    before = full_state(config)
    outcome = create_backup(config, db.engine)
    assert outcome.created
    assert outcome.counts == {name: len(rows) for name, rows in before[0].items()}
    assert outcome.files == len(before[1])
    assert all(before[0].values()), "every table holds rows"

    change_everything(make)
    assert full_state(config) != before

    caplog.set_level(logging.INFO, logger="app.backup")
    restored = restore_backup(config, db.engine, outcome.backup_id)
    assert full_state(config) == before
    assert restored.counts == outcome.counts
    assert restored.count_mismatches == {}
    assert f"restored backup {outcome.backup_id}" in caplog.text
    assert leftovers(config) == []

    # The id counters moved on: new rows get fresh ids on every engine.
    max_user = max(row["id"] for row in before[0]["users"])
    assert make.user(email="after-restore@example.org").id > max_user
    page = db.session.scalar(sa.select(Page).limit(1))
    block = Block(page_id=page.id, type="text", position=9, data={})
    db.session.add(block)
    db.session.commit()
    assert block.id > max(row["id"] for row in before[0]["blocks"])


@pytest.mark.parametrize(
    ("source", "target"),
    [("sqlite", "mariadb"), ("sqlite", "postgresql"), ("postgresql", "sqlite")],
)
def test_backup_moves_between_engines(make_app, make, source, target):
    src = make_app(source)
    with src.app_context():
        seed_everything(make, media_files=6)
        expected = full_state(src.config)
        outcome = create_backup(src.config, db.engine)
    dst = make_app(target)
    with dst.app_context():
        make.site(subdomain="to-be-replaced")
        # An ops person copies the archive back from the off-site mirror.
        backups_dir(dst.config).mkdir(parents=True)
        shutil.copy2(outcome.path, backups_dir(dst.config))
        verify_backup(dst.config, outcome.backup_id)
        restore_backup(dst.config, db.engine, outcome.backup_id)
        assert full_state(dst.config) == expected
        assert make.user(email="grown@example.org").id > len(expected[0]["users"])
