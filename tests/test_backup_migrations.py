"""Backups of older schema revisions restore through the migrations, on every engine.

The golden backup of our head schema goes through a test-only chain of five
real migrations on top of ours (tests/migrations_extra); the older goldens go
through ours as well in tests/test_backup_golden.py. What a restore through the
scratch database gives is compared, row for row, with what the same
migrations give when run in place on the engine itself, and every media file
with the golden listing. A migration that fails on the backup's data changes
nothing live.
"""

import datetime as dt
import shutil

import pytest
import sqlalchemy as sa

from app.backup.catalog import backups_dir
from app.backup.errors import CorruptArchive, RestoreFailed, SchemaMismatch
from app.backup.restore import upgrade
from app.backup.system import restore_backup
from app.extensions import db
from app.media import uploads_dir
from app.models import Block
from tests.backupkit import leftovers, rebuild, unpack
from tests.goldenkit import expected_at_head, files_of, golden_backups, read_listing, rows_of
from tests.migrations_extra import FAILING, VERSIONS

pytestmark = pytest.mark.integration

GOLDEN = golden_backups()[-1]  # the newest: made at our head revision
HEAD = read_listing(GOLDEN)["revision"]
CHAIN = ["x1_site_visits", "x2_page_block_count", "x3_menu_href", "x4_site_notes"]
CHAIN.append("x5_button_shape")


def install(config, archive):
    """Copy a golden archive into the backups folder; return its backup id."""
    folder = backups_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    backup_id = "stinkykitty-2026-11-30-020000"
    shutil.copyfile(archive, folder / f"{backup_id}.tar.gz")
    return backup_id


def schema_at(config, tmp_path, revision):
    """Return the generic schema Alembic builds for ``revision`` (on a scratch SQLite)."""
    engine = upgrade.scratch_engine(tmp_path / f"schema-{revision}.sqlite")
    upgrade.migrate(config, engine, revision)
    try:
        return upgrade.generic_schema(engine)
    finally:
        engine.dispose()


def live_rows(schema):
    """Return every live row of ``schema``'s tables."""
    db.session.remove()
    return rows_of(db.engine, schema.sorted_tables)


@pytest.fixture
def chain_app(request, make_app):
    """An app on each engine that knows the test-only chain, its database still at our head."""
    app = make_app(request.param, MIGRATION_EXTRA_VERSIONS=[VERSIONS])
    with app.app_context():
        yield app


@pytest.mark.parametrize("chain_app", ["sqlite", "mariadb", "postgresql"], indirect=True)
def test_old_backup_restores_through_five_migrations(chain_app, tmp_path):
    config = chain_app.config
    backup_id = install(config, GOLDEN)
    golden = read_listing(GOLDEN)

    # The oracle: restore at the backup's own revision, then migrate in place on this engine.
    restore_backup(config, db.engine, backup_id)
    assert live_rows(db.metadata) == golden["tables"]
    upgrade.migrate(config, db.engine, "heads")
    head = schema_at(config, tmp_path, "heads")
    expected = live_rows(head)

    # Change the live data, then restore the older backup into the x5 database.
    with db.engine.begin() as conn:
        conn.execute(head.tables["site_notes"].delete())
        conn.execute(head.tables["sites"].update().values(visits=41, title="changed"))
        conn.execute(head.tables["menu_items"].delete())
    assert live_rows(head) != expected
    assert upgrade.restorability(config, HEAD) == ("through migrations (5 steps)", 5)

    outcome = restore_backup(config, db.engine, backup_id)

    assert live_rows(head) == expected
    assert expected == expected_at_head(config, golden, tmp_path / "oracle.sqlite")
    assert files_of(config) == golden["files"]
    assert outcome.counts == {name: len(rows) for name, rows in expected.items()}
    assert leftovers(config) == []
    # What each migration did, read back from the restored database.
    rows = live_rows(head)
    sites, pages = golden["tables"]["sites"], golden["tables"]["pages"]
    assert [s["visits"] for s in rows["sites"]] == [0] * len(sites)
    counts = {p["id"]: 0 for p in pages}
    for block in golden["tables"]["blocks"]:
        counts[block["page_id"]] += 1
    assert {p["id"]: p["block_count"] for p in rows["pages"]} == counts
    assert [m["href"] for m in rows["menu_items"]] == [
        m["url"] for m in golden["tables"]["menu_items"]
    ]
    assert [(n["site_id"], n["body"]) for n in rows["site_notes"]] == [
        (s["id"], s["title"]) for s in sites
    ]
    buttons = [b for b in rows["blocks"] if b["type"] == "buttons"]
    assert buttons
    assert all(b["data"]["version"] == 2 and "items" not in b["data"] for b in buttons)
    # New rows after the restore get fresh ids on every engine.
    with db.engine.begin() as conn:
        new_id = conn.execute(
            head.tables["site_notes"].insert().values(site_id=sites[0]["id"], body="new")
        ).inserted_primary_key[0]
    assert new_id > len(sites)


@pytest.mark.parametrize("chain_app", ["sqlite", "mariadb", "postgresql"], indirect=True)
def test_failing_migration_changes_nothing_live(chain_app, tmp_path):
    config = chain_app.config
    config["MIGRATION_EXTRA_VERSIONS"] = [VERSIONS, FAILING]
    upgrade.migrate(config, db.engine, "heads")  # on an empty database: nothing to fail on
    head = schema_at(config, tmp_path, "heads")
    with db.engine.begin() as conn:
        conn.execute(head.tables["users"].insert(), [_user(1), _user(2)])
        conn.execute(
            head.tables["sites"].insert(),
            [_site(1, owner=1), _site(2, owner=2)],
        )
    live_file = uploads_dir(config) / "1" / "live.txt"
    live_file.parent.mkdir(parents=True)
    live_file.write_bytes(b"the live media file")
    before = (live_rows(head), files_of(config))
    backup_id = install(config, GOLDEN)

    with pytest.raises(RestoreFailed, match=r"migration xf_tagline_required \(make sites\.tagline"):
        restore_backup(config, db.engine, backup_id)

    assert (live_rows(head), files_of(config)) == before
    assert leftovers(config) == []


def _user(n):
    moment = dt.datetime(2026, 1, n, 12, 0, 0, 654321)
    return {
        "id": n,
        "email": f"live{n}@example.org",
        "password_hash": "x",
        "is_global_admin": False,
        "created_at": moment,
        "updated_at": moment,
    }


def _site(n, owner):
    user = _user(n)
    return {
        "id": n,
        "subdomain": f"live-{n}",
        "owner_id": owner,
        "title": f"Live {n}",
        "tagline": "has one",
        "theme": {"n": n},
        "created_at": user["created_at"],
        "updated_at": user["updated_at"],
    }


def test_backup_of_a_newer_revision_is_refused_naming_both(app):
    with pytest.raises(SchemaMismatch, match=rf"schema zz9.*knows up to {HEAD}"):
        upgrade.migration_steps(app.config, "zz9", HEAD, "b.tar.gz", "StinkyKitty 9.0.0")
    assert upgrade.restorability(app.config, "zz9") == ("no: made by a newer StinkyKitty", None)


def test_migration_steps_walk_the_chain_oldest_first(app):
    config = {"MIGRATION_EXTRA_VERSIONS": [VERSIONS]}
    steps = upgrade.migration_steps(config, HEAD, "x5_button_shape")
    assert [s.revision for s in steps] == CHAIN
    assert steps[2].description == "rename menu_items.url to href"
    assert upgrade.migration_steps(config, "x3_menu_href", "x5_button_shape")[0].revision == (
        "x4_site_notes"
    )
    assert upgrade.migration_steps(config, "x5_button_shape", "x5_button_shape") == []
    with pytest.raises(SchemaMismatch, match="flask db upgrade"):
        upgrade.migration_steps(config, HEAD, "x3_menu_href")  # the database is behind
    assert upgrade.restorability(app.config, HEAD) == ("yes", 0)
    assert [s.revision for s in upgrade.migration_steps(config, "0001", "x5_button_shape")] == [
        "0002",
        *CHAIN,
    ]


def test_old_dump_that_does_not_fit_its_schema_is_refused(make_app, tmp_path):
    app = make_app(MIGRATION_EXTRA_VERSIONS=[VERSIONS])
    with app.app_context():
        config = app.config
        upgrade.migrate(config, db.engine, "heads")
        head = schema_at(config, tmp_path, "heads")
        backup_id = install(config, GOLDEN)
        path = backups_dir(config) / f"{backup_id}.tar.gz"
        manifest, files = unpack(path, tmp_path / "x")
        files = [
            (n, d.replace(b'"url":', b'"link":', 1) if "menu_items" in n else d) for n, d in files
        ]
        rebuild(path, manifest, files)
        before = (live_rows(head), files_of(config))

        with pytest.raises(CorruptArchive, match=r"table menu_items, row 1: columns differ"):
            restore_backup(config, db.engine, backup_id, allow_unauthenticated=True)  # rebuilt

        assert (live_rows(head), files_of(config)) == before
        assert leftovers(config) == []


PAGE_TITLES_MIGRATION = '''"""mark every page title (a data migration)

Revision ID: x1_page_titles
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "x1_page_titles"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    conn = op.get_bind()
    pages = sa.table("pages", sa.column("id", sa.Integer), sa.column("title", sa.String))
    for page_id, title in conn.execute(sa.select(pages.c.id, pages.c.title)).all():
        conn.execute(pages.update().where(pages.c.id == page_id).values(title=title + " ~"))
'''


@pytest.mark.parametrize("engine", ["sqlite", "mariadb", "postgresql"])
def test_one_site_restores_from_an_older_schema_through_the_migrations(make_app, tmp_path, engine):
    from app.backup.restore.site import restore_site
    from app.models import Page, Site

    # One later migration that changes data only, so the models still fit the live schema.
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "x1_page_titles.py").write_text(PAGE_TITLES_MIGRATION)
    app = make_app(engine, MIGRATION_EXTRA_VERSIONS=[versions])
    with app.app_context():
        config = app.config
        backup_id = install(config, GOLDEN)
        golden = read_listing(GOLDEN)
        restore_backup(config, db.engine, backup_id)  # every site as in the backup, at our head
        upgrade.migrate(config, db.engine, "heads")
        site = golden["tables"]["sites"][1]
        others = [s["id"] for s in golden["tables"]["sites"] if s is not site]
        page_ids = [p["id"] for p in golden["tables"]["pages"] if p["site_id"] == site["id"]]
        assert page_ids
        with db.engine.begin() as conn:  # the camp loses its pages and its title
            conn.execute(sa.delete(Block).where(Block.page_id.in_(page_ids)))
            conn.execute(sa.delete(Page).where(Page.site_id == site["id"]))
            conn.execute(sa.update(Site).where(Site.id == site["id"]).values(title="broken"))
        head = schema_at(config, tmp_path, "heads")
        before = live_rows(head)
        untouched = {
            name: [r for r in rows if r.get("site_id") in others] for name, rows in before.items()
        }

        outcome = restore_site(
            config,
            db.engine,
            backup_id,
            site["subdomain"],
        )

        after = live_rows(head)
        restored = next(s for s in after["sites"] if s["subdomain"] == site["subdomain"])
        assert restored["title"] == site["title"]
        titles = sorted(p["title"] for p in after["pages"] if p["site_id"] == restored["id"])
        wanted = sorted(  # as the migration left them, run on the scratch copy
            p["title"] + " ~" for p in golden["tables"]["pages"] if p["site_id"] == site["id"]
        )
        assert titles == wanted
        assert {
            name: [r for r in rows if r.get("site_id") in others] for name, rows in after.items()
        } == untouched
        assert outcome.subdomain == site["subdomain"]
        assert leftovers(config) == []
