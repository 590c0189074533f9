"""``flask site history SUBDOMAIN``: a site's restore points and what differs from now."""

import json

import pytest
import sqlalchemy as sa

from app.backup.history import live_entry, site_history
from app.backup.history import store as indexfiles
from app.backup.system import create_backup
from app.errors import NOT_FOUND
from app.extensions import db
from app.media import delete_media
from app.models import MediaItem, Page, Site
from tests.backupkit import FakeClock
from tests.sitekit import build_camp


def _edit(make, site_id):
    """Add a page, delete one, edit one, add a media item and delete one."""
    site = db.session.get(Site, site_id)
    make.page(site, slug="news", title="News")
    db.session.delete(db.session.scalar(sa.select(Page).filter_by(site_id=site_id, slug="draft")))
    db.session.scalar(sa.select(Page).filter_by(site_id=site_id, slug="home")).title = "Welcome"
    delete_media(db.session.scalar(sa.select(MediaItem).where(MediaItem.site_id == site_id)))
    db.session.commit()
    make.media(site, content=b"new photo", name="new.jpg")


@pytest.fixture
def lakeside(app, make):
    """Lakeside backed up, then edited and backed up twice (the same), pinecrest beside it."""
    site = build_camp(make, "lakeside")
    build_camp(make, "pinecrest", files=1)
    clock = FakeClock()
    first = create_backup(app.config, db.engine, clock=clock).backup_id
    _edit(make, site.id)
    clock.advance(days=1)
    second = create_backup(app.config, db.engine, clock=clock).backup_id
    clock.advance(days=1)
    third = create_backup(app.config, db.engine, clock=clock, skip_unchanged=False).backup_id
    return {"id": site.id, "backups": [third, second, first]}


def test_the_history_lists_versions_newest_first_with_what_differs_now(runner, lakeside):
    third, second, first = lakeside["backups"]
    result = runner.invoke(args=["site", "history", "lakeside"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"Site lakeside (id {lakeside['id']}): 2 versions in 3 backups, newest first, "
        "each compared with the site now."
    )
    assert lines[1] == f"{third}  2025-06-03 02:00 UTC  the same as now"
    assert lines[2] == (
        f"    unchanged from {second} (2025-06-02 02:00 UTC) to {third} (2 backups)"
    )
    assert lines[3] == (
        f"{first}  2025-06-01 02:00 UTC  since then: 1 page added (news), "
        "1 page removed (draft), 1 page changed (home); media 1 added, 1 removed"
    )
    assert len(lines) == 4


def test_json_gives_every_change_by_name(runner, lakeside):
    result = runner.invoke(args=["site", "history", "LakeSide ", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["subdomain"] == "lakeside"
    newest, oldest = data["versions"]
    assert newest["backups"] == lakeside["backups"][:2]
    assert newest["same_as_now"] is True
    assert oldest["same_as_now"] is False
    pages = oldest["changes"]["pages"]
    assert [p["slug"] for p in pages["added"]] == ["news"]
    assert [p["slug"] for p in pages["removed"]] == ["draft"]
    assert [(p["slug"], p["title"]) for p in pages["changed"]] == [("home", "Welcome")]
    media = oldest["changes"]["media"]
    assert [m["name"] for m in media["added"]] == ["new.jpg"]
    assert [m["name"] for m in media["removed"]] == ["photo-0.jpg"]
    assert oldest["rows"]["pages"] == 3
    assert oldest["files"]["count"] == 3
    assert oldest["summary"].startswith("since then: 1 page added (news)")


def test_an_unknown_site_is_not_found(runner, lakeside):
    result = runner.invoke(args=["site", "history", "nosuchcamp"])
    assert result.exit_code == NOT_FOUND
    assert result.output == "Error: no site with subdomain 'nosuchcamp'\n"


def test_a_backup_without_an_index_is_indexed_once_and_listed_alike(app, runner, lakeside):
    before = runner.invoke(args=["site", "history", "lakeside", "--json"]).output
    for backup_id in lakeside["backups"]:
        indexfiles.index_path(app.config, backup_id).unlink()
    assert runner.invoke(args=["site", "history", "lakeside", "--json"]).output == before
    for backup_id in lakeside["backups"]:
        assert indexfiles.read_index(app.config, backup_id) is not None


def test_a_later_site_under_an_old_name_has_none_of_the_old_ones_history(app, make, runner):
    old = build_camp(make, "lakeside")
    create_backup(app.config, db.engine, clock=FakeClock())
    db.session.delete(db.session.get(Site, old.id))
    db.session.commit()
    new = make.site(subdomain="lakeside")
    assert new.id == old.id  # SQLite gives the freed id again: the creation tells them apart
    result = runner.invoke(args=["site", "history", "lakeside"])
    assert result.exit_code == 0, result.output
    assert "No kept backup holds this site." in result.output
    assert site_history(app.config, db.engine, new.id, "lakeside").versions == []


def test_a_damaged_backup_is_left_out_by_name(app, runner, lakeside):
    third, _second, first = lakeside["backups"]
    indexfiles.index_path(app.config, first).unlink()
    archive = indexfiles.index_path(app.config, first).with_name(f"{first}.tar.gz")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = runner.invoke(args=["site", "history", "lakeside"])
    assert result.exit_code == 0, result.output
    assert f"Left out, cannot be read: {first}: " in result.output
    assert f"{third}  " in result.output
    assert f"{first}  " not in result.output


@pytest.mark.integration
def test_the_live_rows_fingerprint_as_the_backup_dumped_them(any_app, make):
    site = build_camp(make, "lakeside")
    build_camp(make, "pinecrest", files=1)
    outcome = create_backup(any_app.config, db.engine, clock=FakeClock())
    (backed_up,) = indexfiles.read_index(any_app.config, outcome.backup_id, site.id)["sites"]
    db.session.remove()
    now = live_entry(db.engine, site.id)
    assert now["rows_sha256"] == backed_up["rows_sha256"]
    assert now["pages"] == backed_up["pages"]
    assert now["media"] == backed_up["media"]
    assert now["rows"] == backed_up["rows"]
    assert live_entry(db.engine, 10_000) is None


def test_listing_reads_the_indexes_and_no_archive(app, runner, lakeside):
    before = runner.invoke(args=["site", "history", "lakeside", "--json"]).output
    for backup_id in lakeside["backups"]:  # any archive read now would fail, or say so
        archive = indexfiles.index_path(app.config, backup_id).with_name(f"{backup_id}.tar.gz")
        archive.write_bytes(b"not an archive")
    assert runner.invoke(args=["site", "history", "lakeside", "--json"]).output == before
