"""A site's state before and after, and the assertions that nothing changed."""

import os

import pytest
import sqlalchemy as sa

from app.archive.errors import ArchiveError
from app.coordination.maintenance import flag_path
from app.exports.export import exports_dir
from app.exports.siteimport import import_site
from app.extensions import db
from app.media import delete_media
from app.models import Block, MediaItem, MenuItem, Page, Site, SiteUser
from tests.backupkit import full_state, leftovers
from tests.sitekit import all_site_ids, build_camp, snapshot


def camp_site(make):
    """Return (site id, owner id): lakeside, with media by a leaver, and pinecrest beside it."""
    owner = make.user(email="owner@lakeside.example")
    leaver = make.user(email="leaver@lakeside.example")
    site = build_camp(make, "lakeside", owner=owner, members=[(leaver, "editor")])
    make.media(
        site,
        content=os.urandom(900),
        name="by-leaver.png",
        uploader=leaver,
        preview=b"\x00preview\xff",
    )
    db.session.execute(sa.delete(SiteUser).where(SiteUser.user_id == leaver.id))
    db.session.commit()  # an uploader who is no member any more
    build_camp(make, "pinecrest")
    return site.id, owner.id


def edit_site(make, site_id, tag):
    """Change pages, blocks, menu and media of the site (as its owner would)."""
    site = db.session.get(Site, site_id)
    make.page(site, slug=f"new-{tag}", title=f"New {tag}", blocks=[("text", {"html": tag})])
    block = db.session.scalar(
        sa.select(Block).join(Page).where(Page.site_id == site_id).order_by(Block.id)
    )
    block.data = {**block.data, "edited": tag}
    db.session.get(MenuItem, site.menu_items[0].id).label = f"Menu {tag}"
    delete_media(db.session.scalar(sa.select(MediaItem).where(MediaItem.site_id == site_id)))
    db.session.commit()
    make.media(site, content=os.urandom(300), name=f"{tag}.jpg", preview=tag.encode())


def other_sites_state(config, site_id):
    """Return the exact state of every site but ``site_id``."""
    return snapshot(config, [i for i in all_site_ids() if i != site_id])


def named_files(state):
    """Return the rows and the bytes of every file a row names (not stray files)."""
    rows, files = state
    names = {m["stored_name"] for m in rows["media_items"]}
    return rows, {name: data for name, data in files.items() if name in names}


def assert_untouched(app, state):
    """Assert every row and file is as ``state`` says, with no flag and no leftovers."""
    assert full_state(app.config) == state
    assert not flag_path(app.config).exists()
    assert leftovers(app.config) == []


def assert_import_refused(app, archive, target_id):
    """Import ``archive`` over ``target_id``: refused in one line, nothing changed; the error."""
    before = snapshot(app.config, all_site_ids())
    db.session.remove()
    with pytest.raises(ArchiveError) as refused:
        import_site(app.config, db.engine, archive, replace_site_id=target_id)
    assert "\n" not in str(refused.value)
    assert snapshot(app.config, all_site_ids()) == before
    folder = exports_dir(app.config)
    assert not folder.exists() or list(folder.iterdir()) == []  # no staging left
    return str(refused.value)
