"""The demo seed: realistic, reproducible, all-or-nothing, and usable to log in."""

import hashlib
import io
import re
import zlib

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.demo import (
    ADMIN_EMAIL,
    DEFAULT_PASSWORD,
    EDITOR_EMAIL,
    MIB,
    SITE_ADMIN_EMAIL,
    DemoError,
    DemoPlan,
    demo_logins,
    seed_demo,
)
from app.extensions import db
from app.media import media_path, open_media, uploads_dir
from app.models import BLOCK_TYPES, Block, MediaItem, MenuItem, Page, Site, User
from app.permissions import manageable_sites_query

SMALL = DemoPlan(sites=2, pages=4, media_mb=1.5, blocks_per_page=6, seed=7)


def media_refs(data):
    """Return the media ids a block's data refers to."""
    refs = [data.get("media_id"), data.get("poster_media_id")]
    refs += [image["media_id"] for image in data.get("images", [])]
    return [r for r in refs if r is not None]


def files_digest():
    """Return the sorted SHA-256 of every uploaded file (names are random, contents not)."""
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in uploads_dir().rglob("*.*"))


def content_fingerprint():
    """Return the seeded content, without ids and times, for comparing two seeds."""
    return (
        db.session.execute(select(Site.subdomain, Site.title, Site.tagline, Site.theme)).all(),
        db.session.execute(
            select(Page.slug, Block.position, Block.type, Block.data)
            .join(Page)
            .order_by(Page.id, Block.position)
        ).all(),
        db.session.execute(select(MenuItem.label, MenuItem.url).order_by(MenuItem.id)).all(),
        files_digest(),
    )


def test_seed_makes_users_sites_pages_blocks_menus_and_media(app):
    summary = seed_demo(SMALL)
    assert db.session.scalar(select(func.count()).select_from(Site)) == summary.sites == 2
    assert db.session.scalar(select(func.count()).select_from(Page)) == summary.pages == 8
    assert db.session.scalar(select(func.count()).select_from(Block)) == summary.blocks == 48
    assert db.session.scalar(select(func.count()).select_from(MediaItem)) == summary.media
    assert summary.menu_items == db.session.scalar(select(func.count()).select_from(MenuItem))
    assert summary.menu_items >= 2 * 4
    used_types = set(db.session.scalars(select(Block.type).distinct()))
    assert used_types == set(BLOCK_TYPES)
    for site in db.session.scalars(select(Site)):
        home = next(p for p in site.pages if p.slug == "home")
        assert {b.type for b in home.blocks} == set(BLOCK_TYPES)
        assert [b.position for b in home.blocks] == list(range(6))
        assert site.members
        assert site.media
        assert site.menu_items


def test_seeded_blocks_refer_only_to_media_of_their_own_site(app):
    seed_demo(SMALL)
    media_site = dict(db.session.execute(select(MediaItem.id, MediaItem.site_id)).all())
    refs = 0
    for block, site_id in db.session.execute(select(Block, Page.site_id).join(Page)):
        for ref in media_refs(block.data):
            assert media_site[ref] == site_id
            refs += 1
    assert refs > 0


def test_seeded_media_are_real_images_with_previews_and_tags(app):
    summary = seed_demo(SMALL)
    kinds = set()
    for item in db.session.scalars(select(MediaItem)):
        with open_media(item) as f:
            data = f.read()
        assert len(data) == item.size
        image = Image.open(io.BytesIO(data))
        image.load()  # decodes every pixel: the file is a whole, valid image
        assert Image.MIME[image.format] == item.mime_type
        kinds.add(image.format)
        preview = Image.open(io.BytesIO(item.preview))
        assert max(preview.size) <= 96
        assert len(item.preview) < 8 * 1024
        assert item.tags
    assert kinds == {"JPEG", "PNG"}
    assert summary.media_bytes == sum(p.stat().st_size for p in uploads_dir().rglob("*.*"))


def test_seeded_photos_are_as_incompressible_as_real_photos(app):
    seed_demo(SMALL)
    photo = db.session.scalars(
        select(MediaItem).where(MediaItem.mime_type == "image/jpeg").order_by(MediaItem.size.desc())
    ).first()
    data = media_path(photo).read_bytes()
    assert len(zlib.compress(data, 9)) > 0.95 * len(data)


def test_media_volume_follows_media_mb(app):
    summary = seed_demo(DemoPlan(sites=2, pages=1, media_mb=3, blocks_per_page=1))
    assert 0.85 * 3 * MIB < summary.media_bytes < 1.15 * 3 * MIB


def test_zero_media_mb_makes_no_media_and_blocks_refer_to_none(app):
    summary = seed_demo(DemoPlan(sites=1, pages=2, media_mb=0, blocks_per_page=5))
    assert summary.media == 0
    for block in db.session.scalars(select(Block)):
        assert media_refs(block.data) == []


def test_same_seed_gives_the_same_demo_and_another_seed_another(make_app):
    fingerprints = []
    for seed in (3, 3, 4):
        with make_app().app_context():
            seed_demo(DemoPlan(sites=1, pages=3, media_mb=0.3, blocks_per_page=4, seed=seed))
            fingerprints.append(content_fingerprint())
    assert fingerprints[0] == fingerprints[1]
    assert fingerprints[0][1] != fingerprints[2][1]
    assert fingerprints[0][3] != fingerprints[2][3]


def test_demo_logins_work_and_each_owner_manages_only_their_site(app, client):
    summary = seed_demo(SMALL)
    emails = [email for email, _ in summary.logins]
    assert emails == [
        ADMIN_EMAIL,
        "owner1@example.org",
        "owner2@example.org",
        SITE_ADMIN_EMAIL,
        EDITOR_EMAIL,
    ]
    managed = {}
    for email in emails:
        user = db.session.scalar(select(User).where(User.email == email))
        assert user.check_password(DEFAULT_PASSWORD)
        managed[email] = [s.subdomain for s in db.session.scalars(manageable_sites_query(user))]
    assert managed == {
        ADMIN_EMAIL: ["lakeside", "pinecrest"],
        "owner1@example.org": ["pinecrest"],
        "owner2@example.org": ["lakeside"],
        SITE_ADMIN_EMAIL: ["pinecrest"],
        EDITOR_EMAIL: [],
    }
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"email": "owner2@example.org", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert 'data-site="lakeside"' in dashboard
    assert 'data-site="pinecrest"' not in dashboard


def test_demo_logins_leave_out_users_whose_password_changed(app):
    seed_demo(SMALL)
    owner = db.session.scalar(select(User).where(User.email == "owner1@example.org"))
    owner.set_password("a private one")
    db.session.commit()
    emails = [email for email, _ in demo_logins(DEFAULT_PASSWORD)]
    assert "owner1@example.org" not in emails
    assert ADMIN_EMAIL in emails


def test_seeding_twice_is_refused_and_changes_nothing(app):
    seed_demo(SMALL)
    before = content_fingerprint()
    with pytest.raises(DemoError, match="already there"):
        seed_demo(SMALL)
    assert content_fingerprint() == before


def test_a_failed_seed_leaves_no_rows_and_no_files(app):
    calls = []

    def fail_on_second_site(line):
        calls.append(line)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        seed_demo(SMALL, progress=fail_on_second_site)
    for model in (User, Site, Page, Block, MediaItem, MenuItem):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0
    assert files_digest() == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sites", 0, "--sites must be at least 1"),
        ("pages", 0, "--pages must be at least 1"),
        ("blocks_per_page", -1, "--blocks-per-page cannot be negative"),
        ("media_mb", -5, "--media-mb cannot be negative"),
        ("password", "", "password cannot be empty"),
    ],
)
def test_bad_plans_are_refused_with_a_clear_message(app, field, value, message):
    with pytest.raises(DemoError, match=message):
        seed_demo(DemoPlan(**{field: value}))
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.integration
def test_seed_works_on_every_engine(any_app):
    summary = seed_demo(DemoPlan(sites=2, pages=3, media_mb=0.2, blocks_per_page=5))
    assert db.session.scalar(select(func.count()).select_from(Block)) == summary.blocks == 30
    hero = db.session.scalars(select(Block).where(Block.type == "hero")).first()
    assert hero.data["cta"] == {"label": "Register now", "url": "/registration"}


def test_cli_seed_prints_counts_and_logins(runner):
    result = runner.invoke(
        args=["demo", "seed", "--sites", "1", "--pages", "2", "--media-mb", "0.2", "--seed", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "Seeded 1 sites, 2 pages, 12 blocks" in result.output
    assert "Demo logins (password for all: stinkykitty):" in result.output
    assert re.search(r"^  owner1@example.org +owner of pinecrest$", result.output, re.M)
    assert re.search(r"^  admin@example.org +global admin", result.output, re.M)
    again = runner.invoke(args=["demo", "seed", "--sites", "1"])
    assert again.exit_code == 1
    assert "Error: demo data is already there (admin@example.org exists)" in again.output


def test_cli_logins_lists_the_demo_logins_again(runner):
    assert runner.invoke(args=["demo", "seed", "--sites", "1", "--media-mb", "0"]).exit_code == 0
    result = runner.invoke(args=["demo", "logins"])
    assert result.exit_code == 0
    assert re.search(r"^  owner1@example.org +owner of pinecrest$", result.output, re.M)
    assert "password for all: stinkykitty" in result.output


def test_cli_seed_refuses_bad_numbers(runner):
    result = runner.invoke(args=["demo", "seed", "--sites", "0"])
    assert result.exit_code == 1
    assert "--sites must be at least 1" in result.output
