"""``flask backup list|status|restore`` say what this app can restore, and how."""

import json
import shutil

import pytest

from app.backup.catalog import backups_dir
from app.backup.restore import upgrade
from app.backup.system import create_backup
from app.dumps.dump import database_revision
from app.errors import REFUSED
from app.extensions import db
from tests.goldenkit import read_listing
from tests.migrations_extra import VERSIONS
from tests.support.archives import OLD_BACKUP_ID, OLDEST_BACKUP, newer_copy


@pytest.fixture
def chain_app(make_app):
    """An app on SQLite whose schema is the test-only chain's head (six steps past 0001)."""
    app = make_app(MIGRATION_EXTRA_VERSIONS=[VERSIONS])
    with app.app_context():
        upgrade.migrate(app.config, db.engine, "heads")
        folder = backups_dir(app.config)
        folder.mkdir(parents=True)
        shutil.copyfile(OLDEST_BACKUP, folder / f"{OLD_BACKUP_ID}.tar.gz")
        yield app


def backup(app, *args, input=None):
    """Run ``flask backup <args>`` on ``app``."""
    return app.test_cli_runner().invoke(args=["backup", *args], input=input)


def test_list_says_yes_through_migrations_or_no(chain_app, tmp_path):
    newer = newer_copy(chain_app, tmp_path, OLDEST_BACKUP)
    data = {d["id"]: d for d in json.loads(backup(chain_app, "list", "--json").stdout)}
    assert data[OLD_BACKUP_ID]["revision"] == read_listing(OLDEST_BACKUP)["revision"]
    assert data[OLD_BACKUP_ID]["restorable"] == "through migrations (6 steps)"
    assert data[OLD_BACKUP_ID]["migration_steps"] == 6
    assert data[newer]["restorable"] == "no: made by a newer StinkyKitty"
    assert data[newer]["migration_steps"] is None
    text = backup(chain_app, "list").stdout
    assert "restorable: through migrations (6 steps)" in text
    assert "restorable: no: made by a newer StinkyKitty" in text


def test_list_says_yes_for_a_backup_of_this_schema(app, make):
    make.site()
    outcome = create_backup(app.config, db.engine)
    (entry,) = json.loads(backup(app, "list", "--json").stdout)
    assert (entry["id"], entry["restorable"], entry["migration_steps"]) == (
        outcome.backup_id,
        "yes",
        0,
    )
    assert "restorable:" not in backup(app, "list").stdout


def test_status_fails_only_when_no_good_backup_is_restorable(app, make, tmp_path):
    make.site()
    outcome = create_backup(app.config, db.engine)
    newer = newer_copy(app, tmp_path, outcome.path)
    mixed = backup(app, "status", "--json")
    assert mixed.exit_code == 0, mixed.output
    data = json.loads(mixed.stdout)
    assert data["restorability"] == {
        "restorable": 1,
        "through_migrations": 0,
        "not_restorable": [newer],
    }
    assert any(newer in warning for warning in data["warnings"])

    outcome.path.unlink()
    only_newer = backup(app, "status")
    assert only_newer.exit_code == 1
    assert "UNRESTORABLE: none of the 1 good backups can be restored" in only_newer.stderr


def test_restore_prompt_says_migrations_will_run(chain_app):
    result = backup(chain_app, "restore", OLD_BACKUP_ID, input="n\n")
    assert result.exit_code == 1
    assert "6 migration(s) will run (0001 -> x5_button_shape)" in result.stdout
    assert "Restore will overwrite database. Continue? (y/n)" in result.stdout
    assert "Restore cancelled; nothing changed." in result.stderr
    with db.engine.connect() as conn:
        assert database_revision(conn) == "x5_button_shape"
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM sites").scalar() == 0


def test_restore_of_a_newer_backup_is_refused_before_asking(app, make, tmp_path):
    make.site()
    outcome = create_backup(app.config, db.engine)
    newer = newer_copy(app, tmp_path, outcome.path)
    result = backup(app, "restore", newer)
    assert result.exit_code == REFUSED
    assert "Continue?" not in result.stdout
    assert "schema zz9_future, this app knows up to 0002" in result.stderr


def test_restore_says_it_went_through_the_migrations(chain_app):
    result = backup(chain_app, "restore", OLD_BACKUP_ID, "--yes")
    assert result.exit_code == 0, result.output
    assert "through 6 migrations" in result.stdout
    data = json.loads(backup(chain_app, "restore", OLD_BACKUP_ID, "--yes", "--json").stdout)
    assert data["migrations"] == [
        "0002",
        "x1_site_visits",
        "x2_page_block_count",
        "x3_menu_href",
        "x4_site_notes",
        "x5_button_shape",
    ]
