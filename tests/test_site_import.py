"""Importing a site export: as a new site or over one, on every engine and across engines."""

import json

import pytest
import sqlalchemy as sa

from app.errors import REFUSED
from app.exports.export import export_site
from app.exports.siteimport import import_site
from app.extensions import db
from app.models import Block, MediaItem, Page, Site
from tests.sitekit import build_camp, site_files
from tests.support.archives import SITE_EXPORT_V1, export_content


def _import(config, archive, **kw):
    db.session.remove()
    return import_site(config, db.engine, archive, **kw)


def test_the_golden_export_of_format_1_imports(app, make):
    owner = make.user(email="owner@golden.example")
    summary = _import(app.config, SITE_EXPORT_V1, subdomain="golden-copy", owner_email=owner.email)

    assert summary.created
    assert summary.counts == {
        "pages": 3, "blocks": 6, "menu_items": 2, "media": 3, "media_files": 3,
    }  # fmt: skip
    assert summary.uploaders_cleared == 1  # editor@golden.example is no user here
    site = db.session.get(Site, summary.site_id)
    assert (site.subdomain, site.title, site.owner_id) == ("golden-copy", "Golden Camp ☀", owner.id)
    assert [m.role for m in site.members] == ["owner"]
    media = {
        m.id: m
        for m in db.session.scalars(sa.select(MediaItem).where(MediaItem.site_id == site.id))
    }
    files = site_files(app.config, site.id)
    assert {m.stored_name for m in media.values()} == set(files)
    hero = db.session.scalar(
        sa.select(Block).join(Page).where(Page.site_id == site.id, Block.type == "gallery")
    )
    names = [media[image["media_id"]].original_name for image in hero.data["images"]]
    assert names == ["lake.png", "Zwemmen ö.jpg"]
    assert sorted(t.tag for m in media.values() for t in m.tags) == ["lake", "summer"]


@pytest.mark.integration
def test_export_import_export_gives_the_same_site(any_app, make, tmp_path):
    config = any_app.config
    site = build_camp(make, "lakeside")
    site.custom_domain = "lakeside.example"
    db.session.commit()
    first = export_site(config, site.id, dest=tmp_path / "first.tar.gz")

    summary = _import(
        config, first.path, subdomain="lakeside-copy", owner_email="owner@lakeside.example"
    )
    again = export_site(config, summary.site_id, dest=tmp_path / "again.tar.gz")

    assert summary.notes == ["custom domain lakeside.example belongs to another site: left out"]
    assert export_content(again.path, tmp_path / "b") == export_content(first.path, tmp_path / "a")


@pytest.mark.integration
@pytest.mark.parametrize("target", ["mariadb", "postgresql"])
def test_a_site_moves_from_sqlite_to_another_engine(make_app, make, tmp_path, target):
    src = make_app("sqlite")
    with src.app_context():
        site = build_camp(make, "lakeside", files=4)
        first = export_site(src.config, site.id, dest=tmp_path / "first.tar.gz")
        db.session.remove()
    dst = make_app(target)
    with dst.app_context():
        make.user(email="owner@lakeside.example")
        build_camp(make, "neighbour")  # ids 1.. are taken here
        summary = _import(dst.config, first.path, owner_email="owner@lakeside.example")
        again = export_site(dst.config, summary.site_id, dest=tmp_path / "again.tar.gz")
        db.session.remove()
    assert summary.subdomain == "lakeside"
    assert export_content(again.path, tmp_path / "b") == export_content(first.path, tmp_path / "a")


def test_replace_keeps_the_site_its_members_and_address(app, make, tmp_path):
    config = app.config
    editor = make.user(email="editor@example.org")
    site = build_camp(make, "lakeside", members=[(editor, "editor")])
    neighbour = build_camp(make, "pinecrest")
    good = export_site(config, site.id, dest=tmp_path / "good.tar.gz")
    other = export_site(config, neighbour.id, dest=tmp_path / "other.tar.gz")
    old_files = site_files(config, site.id)

    summary = _import(config, other.path, replace_site_id=site.id)

    site = db.session.get(Site, site.id)
    assert (summary.site_id, summary.subdomain, summary.created) == (site.id, "lakeside", False)
    assert site.title == "Camp pinecrest ☀"
    assert sorted(m.role for m in site.members) == ["editor", "owner"]
    files = site_files(config, site.id)
    assert set(files).isdisjoint(old_files)  # the old media files went with their rows
    assert sorted(files.values()) == sorted(site_files(config, neighbour.id).values())

    _import(config, good.path, replace_site_id=site.id)  # and back
    assert export_content(export_site(config, site.id).path, tmp_path / "b") == export_content(
        good.path, tmp_path / "a"
    )


def test_cli_imports_a_new_site_and_replaces_one_after_asking(app, make):
    make.user(email="boss@example.org")
    runner = app.test_cli_runner()
    new = runner.invoke(
        args=[
            "site",
            "import",
            str(SITE_EXPORT_V1),
            "--subdomain",
            "golden",
            "--owner",
            "boss@example.org",
            "--json",
        ]
    )
    assert new.exit_code == 0, new.output
    result = json.loads(new.output)
    assert (result["subdomain"], result["created"], result["uploaders_cleared"]) == (
        "golden",
        True,
        2,
    )

    unknown = runner.invoke(
        args=[
            "site",
            "import",
            str(SITE_EXPORT_V1),
            "--subdomain",
            "other",
            "--owner",
            "who@example.org",
        ]
    )
    assert unknown.exit_code == REFUSED
    assert "there is no user who@example.org" in unknown.output

    no_owner = runner.invoke(args=["site", "import", str(SITE_EXPORT_V1), "--subdomain", "other"])
    assert no_owner.exit_code == 1
    assert "name an owner" in no_owner.output

    taken = runner.invoke(
        args=[
            "site",
            "import",
            str(SITE_EXPORT_V1),
            "--subdomain",
            "golden",
            "--owner",
            "boss@example.org",
        ]
    )
    assert taken.exit_code == REFUSED
    assert "the subdomain 'golden' is taken" in taken.output

    site = db.session.scalar(sa.select(Site).where(Site.subdomain == "golden"))
    site.title = "Changed"
    db.session.commit()
    refused = runner.invoke(
        args=["site", "import", str(SITE_EXPORT_V1), "--replace", "golden"], input="n\n"
    )
    assert refused.exit_code == 1
    assert "Import will replace every page" in refused.output
    db.session.remove()
    assert db.session.get(Site, site.id).title == "Changed"
    done = runner.invoke(
        args=["site", "import", str(SITE_EXPORT_V1), "--replace", "golden"], input="y\n"
    )
    assert done.exit_code == 0, done.output
    assert "Replaced site golden" in done.output
    db.session.remove()
    assert db.session.get(Site, site.id).title == "Golden Camp ☀"


def test_cli_import_takes_the_owner_the_export_records(app, make, tmp_path):
    owner = make.user(email="Director@Pinecrest.example")
    site = build_camp(make, "pinecrest", owner=owner, files=1)
    archive = export_site(app.config, site.id, dest=tmp_path / "pinecrest.tar.gz").path
    runner = app.test_cli_runner()

    done = runner.invoke(args=["site", "import", str(archive), "--subdomain", "copy1", "--json"])
    assert done.exit_code == 0, done.output
    copy = db.session.scalar(sa.select(Site).where(Site.subdomain == "copy1"))
    assert copy.owner_id == owner.id

    named = make.user(email="someone@example.org")
    done = runner.invoke(
        args=["site", "import", str(archive), "--subdomain", "copy2", "--owner", named.email]
    )
    assert done.exit_code == 0, done.output
    copy = db.session.scalar(sa.select(Site).where(Site.subdomain == "copy2"))
    assert copy.owner_id == named.id  # --owner wins over the export's owner


def test_cli_import_names_the_owner_flag_when_the_export_owner_is_not_here(
    make_app, make, tmp_path
):
    there = make_app()
    with there.app_context():
        site = build_camp(make, "lakeside", files=1)
        archive = export_site(there.config, site.id, dest=tmp_path / "lakeside.tar.gz").path
    here = make_app()
    with here.app_context():
        done = here.test_cli_runner().invoke(args=["site", "import", str(archive)])
        assert done.exit_code == 1
        assert "its owner owner@lakeside.example is not a user here" in done.output
        assert "--owner EMAIL" in done.output
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0

        old = here.test_cli_runner().invoke(args=["site", "import", str(SITE_EXPORT_V1)])
        assert old.exit_code == 1
        assert "the export does not say who owned the site" in old.output
        assert "--owner EMAIL" in old.output
