"""Every golden backup (one per schema revision we released) restores into today's schema.

Kept forever: a migration that stops an old backup from restoring, or changes
what it restores to unexpectedly, turns these red. Each golden restores on
SQLite, MariaDB and PostgreSQL, and every row and media file is compared:
with the listing kept beside it when it is at head, and, for older ones, with
what the same migrations give run in place on the listing's rows.
"""

import shutil

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.backup.catalog import backups_dir
from app.backup.restore import upgrade
from app.backup.system import restore_backup, verify_backup
from app.dumps.dump import database_revision
from app.extensions import db
from tests.backupkit import leftovers
from tests.conftest import _reset_schema
from tests.goldenkit import (
    expected_at_head,
    files_of,
    golden_backups,
    read_listing,
    rows_of,
)

pytestmark = pytest.mark.integration


def test_there_is_a_golden_backup_of_the_head_schema(app):
    revisions = [read_listing(path)["revision"] for path in golden_backups()]
    assert upgrade.head_revision(app.config) in revisions
    assert all(path.stat().st_size < 200_000 for path in golden_backups())


@pytest.mark.parametrize("golden", golden_backups(), ids=lambda p: p.name)
def test_golden_backup_restores_every_row_and_file(any_app, make, golden, tmp_path):
    config = any_app.config
    listing = read_listing(golden)
    make.site(subdomain="replaced-by-the-restore")
    folder = backups_dir(config)
    folder.mkdir(parents=True)
    backup_id = "stinkykitty-2026-11-30-020000"
    shutil.copyfile(golden, folder / f"{backup_id}.tar.gz")
    verify_backup(config, backup_id)

    restore_backup(config, db.engine, backup_id)

    db.session.remove()
    restored = rows_of(db.engine, db.metadata.sorted_tables)
    if listing["revision"] == upgrade.head_revision(config):
        assert restored == listing["tables"]
    # Every golden, old or new: what the in-place migration of its rows gives.
    assert restored == expected_at_head(config, listing, tmp_path / "oracle.sqlite")
    assert files_of(config) == listing["files"]
    assert leftovers(config) == []


def test_every_migration_runs_from_base_on_this_engine(any_app):
    """Walk the real chain one revision at a time from an empty database."""
    config = any_app.config
    _reset_schema(db.engine.url.render_as_string(hide_password=False))
    db.engine.dispose()
    script = upgrade.script_directory(config)
    revisions = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert revisions[-1] == script.get_current_head()
    for revision in revisions:
        upgrade.migrate(config, db.engine, revision)
        with db.engine.connect() as conn:
            assert database_revision(conn) == revision
    # What the chain built is what the models describe, to the column type and index.
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
