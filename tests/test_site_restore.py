"""Restoring one site from a system backup: it is as in the backup, every other site untouched."""

import json
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from app.backup.errors import SchemaMismatch
from app.backup.restore.journal import KILL_AT_VARIABLE, journal_path
from app.backup.restore.site import restore_site
from app.backup.system import create_backup
from app.errors import NOT_FOUND
from app.extensions import db
from app.media import delete_media, media_path
from app.models import Block, MediaItem, Page, Site, User
from app.sitedata import site_loader
from app.sitedata.fromdump import SiteNotInBackup
from tests.backupkit import database_state, leftovers
from tests.processes import ROOT, clean_env
from tests.sitekit import all_site_ids, build_camp, site_files, site_rows, snapshot


def _restore(config, backup_id, subdomain, **kw):
    db.session.remove()
    return restore_site(config, db.engine, backup_id, subdomain, **kw)


def _two_camps(make):
    editor = make.user(email="editor@example.org")
    lake = build_camp(make, "lakeside", members=[(editor, "editor")])
    pine = build_camp(make, "pinecrest")
    return lake.id, pine.id


@pytest.mark.integration
def test_restoring_one_site_gives_it_back_and_keeps_the_others_changes(any_app, make):
    config = any_app.config
    lake_id, pine_id = _two_camps(make)
    backup = create_backup(config, db.engine)
    (expected, _users) = snapshot(config, [lake_id])

    # Both camps change after the backup; the other one first, so that ids it takes stay its own.
    pine = db.session.get(Site, pine_id)
    pine.title = "Pinecrest, renamed"
    make.page(pine, slug="news", title="News", blocks=[("text", {"html": "new"})])
    make.media(pine, content=b"new pine photo")
    lake = db.session.get(Site, lake_id)
    lake.title = "Oops"
    lake.theme = {"color": "red"}
    db.session.delete(db.session.scalar(sa.select(Page).where(Page.site_id == lake_id)))
    delete_media(db.session.scalar(sa.select(MediaItem).where(MediaItem.site_id == lake_id)))
    db.session.commit()
    make.media(lake, content=b"uploaded after the backup")
    make.page(lake, slug="new", title="New")
    others_before, users_before = snapshot(config, [i for i in all_site_ids() if i != lake_id])

    outcome = _restore(config, backup.backup_id, "lakeside")

    after, users_after = snapshot(config, [lake_id])
    assert after[lake_id] == expected[lake_id]  # every row and every file as in the backup
    others_after, _ = snapshot(config, [i for i in all_site_ids() if i != lake_id])
    assert others_after == others_before  # the other camp keeps its day, row by row, file by file
    assert users_after == users_before
    summary = outcome.to_dict()
    assert summary["created"] is False
    assert summary["remapped"] == {}
    assert summary["counts"]["pages"] == 3
    assert summary["counts"]["media_files"] == 3
    assert leftovers(config) == []


@pytest.mark.integration
def test_a_deleted_site_comes_back_with_new_ids_where_others_took_them(any_app, make):
    config = any_app.config
    lake_id, pine_id = _two_camps(make)
    backup = create_backup(config, db.engine)
    state = database_state()
    old = site_rows(state, lake_id)
    old_files = site_files(config, lake_id)
    gone = db.session.scalar(sa.select(User).where(User.email == "editor@example.org"))
    db.session.delete(gone)
    lake = db.session.get(Site, lake_id)
    for item in lake.media:
        media_path(item).unlink()
    db.session.delete(lake)
    db.session.commit()
    # Another site takes ids the lost site had (SQLite reuses ids; any engine takes explicit ones).
    pine = db.session.get(Site, pine_id)
    taken_page = old["pages"][0]["id"]
    taken_media = old["media_items"][0]["id"]
    db.session.add(Page(id=taken_page, site_id=pine_id, slug="taken", title="Taken"))
    db.session.add(
        MediaItem(
            id=taken_media,
            site_id=pine_id,
            stored_name="x.jpg",
            original_name="x.jpg",
            size=1,
            mime_type="image/jpeg",
        )
    )
    db.session.commit()
    others_before, _ = snapshot(config, [pine.id])

    outcome = _restore(config, backup.backup_id, "lakeside").to_dict()

    assert outcome["created"] is True
    assert outcome["dropped_members"] == ["editor@example.org"]
    assert outcome["remapped"] == {"pages": 1, "media_items": 1}
    assert snapshot(config, [pine_id])[0] == others_before
    site = db.session.scalar(sa.select(Site).where(Site.subdomain == "lakeside"))
    new = site_rows(database_state(), site.id)
    assert [r["role"] for r in new["site_users"]] == ["owner"]
    # The media item that moved: same file and tags, and every block now points at its new id.
    moved = next(
        r for r in new["media_items"] if r["stored_name"] == old["media_items"][0]["stored_name"]
    )
    assert moved["id"] != taken_media
    assert site_files(config, site.id) == old_files
    hero = db.session.scalar(
        sa.select(Block)
        .join(Page)
        .where(Page.site_id == site.id, Block.type == "hero", Page.slug == "home")
    )
    assert hero.data["media_id"] == moved["id"]
    assert sorted(r["tag"] for r in new["media_tags"] if r["media_id"] == moved["id"]) == [
        "lake ☀", "summer",
    ]  # fmt: skip
    assert len(new["blocks"]) == len(old["blocks"])


def test_only_the_restored_site_answers_503_meanwhile(app, make, login_as):
    config = app.config
    lake_id, pine_id = _two_camps(make)
    backup = create_backup(config, db.engine)
    client = login_as(make.user(email="root@example.org", admin=True))
    seen = {}
    load = site_loader(config, db.engine)

    def watching_load(rows, site_id):
        seen["lake"] = client.get(f"/admin/sites/{lake_id}").status_code
        seen["pine"] = client.get(f"/admin/sites/{pine_id}").status_code
        # The state of a restore job still answers (here: no such job), so a page can follow it.
        for status_url in ("restore/0000", "history/jobs/0000"):
            seen[status_url] = client.get(f"/admin/sites/{lake_id}/{status_url}").status_code
        seen["undo"] = client.post(f"/admin/sites/{lake_id}/history/jobs/0000/undo").status_code
        return load(rows, site_id)

    db.session.remove()
    restore_site(config, db.engine, backup.backup_id, "lakeside", load=watching_load)
    assert seen == {
        "lake": 503,
        "pine": 200,
        "restore/0000": 404,
        "history/jobs/0000": 404,
        "undo": 503,
    }
    assert client.get(f"/admin/sites/{lake_id}").status_code == 200


def test_refusals_change_nothing(app, make, tmp_path):
    config = app.config
    lake_id, _pine_id = _two_camps(make)
    backup = create_backup(config, db.engine)
    make.page(db.session.get(Site, lake_id), slug="after", title="After")
    before = snapshot(config, all_site_ids())
    with pytest.raises(SiteNotInBackup, match="no site 'nowhere'"):
        _restore(config, backup.backup_id, "nowhere")
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    db.session.commit()
    with pytest.raises(SchemaMismatch):
        _restore(config, backup.backup_id, "lakeside")
    assert snapshot(config, all_site_ids()) == before
    assert leftovers(config) == []


def test_cli_restores_one_site_after_the_same_prompt(app, make):
    config = app.config
    lake_id, _pine_id = _two_camps(make)
    backup = create_backup(config, db.engine)
    expected = snapshot(config, [lake_id])
    db.session.get(Site, lake_id).title = "Changed"
    db.session.commit()
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["backup", "restore", backup.backup_id, "--site", "lakeside"],
                            input="n\n")  # fmt: skip
    assert refused.exit_code == 1
    assert "Restore will overwrite the site lakeside. Continue? (y/n)" in refused.output
    assert "Restore will overwrite database" not in refused.output
    assert "Only the site lakeside is replaced" in refused.output
    assert "rows:" not in refused.output  # the whole backup's counts are not the site's
    assert db.session.get(Site, lake_id).title == "Changed"

    done = runner.invoke(
        args=["backup", "restore", backup.backup_id, "--site", "lakeside", "--yes", "--json"]
    )
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert (result["subdomain"], result["backup_id"], result["created"]) == (
        "lakeside", backup.backup_id, False,
    )  # fmt: skip
    assert snapshot(config, [lake_id]) == expected

    missing = runner.invoke(args=["backup", "restore", backup.backup_id, "--site", "no", "--yes"])
    assert missing.exit_code == NOT_FOUND
    assert "holds no site 'no'" in missing.output


def test_a_site_restore_first_settles_an_interrupted_whole_restore(app, make):
    """A one-site restore in a running process settles an interrupted restore before it begins."""
    config = app.config
    lake_id, _pine_id = _two_camps(make)
    backup = create_backup(config, db.engine, skip_unchanged=False)
    make.page(db.session.get(Site, lake_id), slug="after-the-backup")
    before = snapshot(config, [lake_id])
    db.session.remove()
    env = clean_env(
        STINKY_DATA_DIR=config["STINKY_DATA_DIR"],
        SECRET_KEY=config["SECRET_KEY"],
        BACKUP_KEY=config["BACKUP_KEY"],
        **{KILL_AT_VARIABLE: "installed"},  # killed with the old media moved aside
    )
    command = [sys.executable, "-m", "flask", "--app", "app", "backup", "restore"]
    killed = subprocess.run(
        [*command, backup.backup_id, "--yes"], env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert journal_path(config).exists()  # interrupted, and nothing in this process settled it

    restore_site(config, db.engine, backup.backup_id, "pinecrest")

    assert not journal_path(config).exists()  # settled first: undone, as it had not committed
    assert snapshot(config, [lake_id]) == before  # lakeside as it was, its new page included


def test_the_index_beside_the_backup_spares_a_read_of_the_archive(app, make, monkeypatch):
    from app.backup.restore import site as site_module

    config = app.config
    lake_id, _pine_id = _two_camps(make)
    backup = create_backup(config, db.engine)
    expected, _users = snapshot(config, [lake_id])
    reads = []
    real_read = site_module.read_member
    monkeypatch.setattr(
        site_module, "read_member", lambda *a, **kw: reads.append(a) or real_read(*a, **kw)
    )
    make.page(db.session.get(Site, lake_id), slug="after", title="After")
    _restore(config, backup.backup_id, "lakeside")
    assert reads == []  # the site's id came from the index, the archive was read once
    assert snapshot(config, [lake_id])[0] == expected


def test_an_index_that_lies_about_the_sites_id_changes_nothing_of_the_outcome(app, make, caplog):
    from app.backup.catalog import index_path

    config = app.config
    lake_id, pine_id = _two_camps(make)
    backup = create_backup(config, db.engine)
    expected, _users = snapshot(config, [lake_id])
    path = index_path(config, backup.backup_id)
    lines = path.read_bytes().splitlines(keepends=True)
    lake = f'{{"id":{lake_id},"subdomain":"lakeside",'.encode()
    lied = [
        line.replace(lake, f'{{"id":{pine_id},"subdomain":"lakeside",'.encode()) for line in lines
    ]
    assert lied != lines
    path.write_bytes(b"".join(lied))  # the index (not authenticated) names pinecrest's folder
    others_before, _ = snapshot(config, [pine_id])
    make.page(db.session.get(Site, lake_id), slug="after", title="After")
    _restore(config, backup.backup_id, "lakeside")
    assert snapshot(config, [lake_id])[0] == expected  # every row and file byte as in the backup
    assert snapshot(config, [pine_id])[0] == others_before
    assert "is wrong about lakeside" in caplog.text
