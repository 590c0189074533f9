"""Helpers of the backup tests: realistic data, exact snapshots, a fake clock, crafted archives."""

import datetime as dt
import os
import shutil
from pathlib import Path

import sqlalchemy as sa

from app.archive import CHECKSUMS_NAME, TAG_NAME, extract_archive
from app.backup.catalog import backups_dir
from app.extensions import db
from app.media import uploads_dir
from app.models import ExportJob, MediaTag
from tests import craft

EVERY_BYTE = bytes(range(256))


class FakeClock:
    """A clock the tests move by hand: ``clock()`` returns naive UTC."""

    def __init__(self, start=dt.datetime(2025, 6, 1, 2, 0, 0, 123456)):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        """Move the clock forward by a timedelta's keywords."""
        self.now += dt.timedelta(**delta)
        return self.now


def seed_everything(make, media_files=24):
    """Fill every table: unicode, NULLs, nested JSON, binary, big ints, microseconds."""
    admin = make.user(email="root@example.org", admin=True)
    owner = make.user(email="ünïcode-ø@example.org")
    editor = make.user()
    camp = make.site(
        owner=owner,
        subdomain="kamp-zonnebloem",
        title="Kamp Zonnebloem ☀ — 夏令营",
        tagline=None,
        theme={"color": "#2a7", "fonts": ["Inter", "Noto Sans"], "nested": {"a": [1, 2.5, None]}},
        custom_domain="zonnebloem.example",
    )
    other = make.site(owner=admin, subdomain="bivak", theme={}, tagline='Tent & "quotes"\n')
    make.member(camp, editor, "editor")
    make.page(
        camp,
        slug="home",
        title="Welkom",
        blocks=[
            ("text", {"html": "<p>Héllo ☃ \u2028 line\\sep</p>", "emoji": "🏕️"}),
            ("hero", {"title": "x", "image": None, "ratio": 1.7777777777777777}),
            ("buttons", {"items": [{"label": "Inschrijven", "url": "/join"}], "n": 2**53 + 1}),
        ],
    )
    make.page(camp, slug="draft", title="Concept", blocks=[], published=False)
    make.page(other, slug="home", title="Bivak", blocks=[("gallery", {"ids": []})])
    make.menu_item(camp, "Home", "/", 0)
    make.menu_item(camp, "Lange URL", "https://example.org/" + "x" * 3000, 1)
    items = []
    for n in range(media_files):
        site = camp if n % 3 else other
        content = os.urandom(1024 + 97 * n)
        name = f"photo-{n}.jpg" if n % 2 else f"doc-{n}.pdf"
        preview = EVERY_BYTE if n == 0 else (None if n % 4 else os.urandom(64))
        items.append(make.media(site, content=content, name=name, uploader=owner, preview=preview))
    items[1].uploaded_by_id = None
    db.session.add_all(
        [MediaTag(media_id=items[0].id, tag="zomer"), MediaTag(media_id=items[0].id, tag="☀")]
    )
    db.session.add(
        ExportJob(
            site_id=camp.id,
            user_id=owner.id,
            state="ready",
            progress_done=7,
            progress_total=7,
            filename="site-1-2025-06-01-020000.tar.gz",
            size=5_000_000_000,  # beyond 32 bits
            sha256="ab" * 32,
            error=None,
            created_at=dt.datetime(2025, 5, 31, 23, 59, 59, 999999),
            started_at=dt.datetime(2025, 6, 1, 0, 0, 0, 1),
            finished_at=None,
        )
    )
    db.session.commit()
    return {"camp": camp, "other": other, "owner": owner, "media": items}


def database_state(engine=None):
    """Return every row of every table, by table, in primary-key order."""
    engine = engine or db.engine
    state = {}
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            state[table.name] = [dict(row) for row in rows.mappings()]
    return state


def media_state(config):
    """Return {relative path: bytes} of every file under uploads/."""
    root = uploads_dir(config)
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def full_state(config):
    """Return (database rows, media bytes)."""
    db.session.remove()
    return database_state(), media_state(config)


def change_everything(make):
    """Update, delete and add rows and media so a restore has something to undo."""
    from app.media import delete_media
    from app.models import Page, Site

    camp = db.session.scalar(sa.select(Site).where(Site.subdomain == "kamp-zonnebloem"))
    camp.title = "Renamed"
    camp.theme = {"color": "red"}
    page = db.session.scalar(sa.select(Page).where(Page.slug == "home", Page.site_id == camp.id))
    db.session.delete(page)
    for item in camp.media[:3]:
        delete_media(item)
    db.session.commit()
    new_site = make.site(subdomain="nieuw")
    make.media(new_site, content=b"new file after the backup")
    make.user(email="late@example.org")


def leftovers(config):
    """Return crash leftovers and restore staging folders in the data dir and backups folder."""
    data = Path(config["STINKY_DATA_DIR"])
    found = [p.name for p in data.iterdir() if p.name.startswith(".") or ".pre-restore-" in p.name]
    folder = backups_dir(config)
    if folder.exists():
        found += [p.name for p in folder.iterdir() if ".tmp-" in p.name]
    return sorted(found)


def unpack(archive, dest):
    """Extract a good archive; return (manifest, [(member path, bytes)] in manifest order)."""
    manifest = extract_archive(archive, dest)
    files = [
        (f["path"], (Path(dest) / f["path"]).read_bytes())
        for f in manifest["files"]
        if f["path"] not in (CHECKSUMS_NAME, TAG_NAME)
    ]
    shutil.rmtree(dest)
    return manifest, files


def rebuild(path, manifest, files, extra_entries=(), **changes):
    """Write a well-formed archive from ``files`` with ``manifest``'s fields (and ``changes``)."""
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    fields.update(changes)
    return craft.honest(path, files, manifest["format"], extra_entries=extra_entries, **fields)


def rot(outcome):
    """Flip one byte in the middle of a backup's archive, as a bad disk would."""
    raw = bytearray(outcome.path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    outcome.path.write_bytes(bytes(raw))
