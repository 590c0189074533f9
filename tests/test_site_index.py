"""The per-site index beside every backup: made while dumping, or lazily for older backups."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from app.archive import read_manifest, verify_archive
from app.backup.catalog import backups_dir
from app.backup.history import store as indexfiles
from app.backup.history.index import SiteIndexer, files_digest
from app.backup.system import create_backup, delete_backup
from app.extensions import db
from app.media import uploads_dir
from app.models import Page
from tests.backupkit import FakeClock, unpack
from tests.sitekit import build_camp

FIXTURES = Path(__file__).parent / "fixtures"


def _two_camps(make):
    lakeside = build_camp(make, "lakeside")
    pinecrest = build_camp(make, "pinecrest", files=2)
    return lakeside.id, pinecrest.id


def _site(index, site_id):
    return next(s for s in index["sites"] if s["id"] == site_id)


def test_a_backup_writes_the_index_of_every_site_beside_it(app, make):
    lakeside, pinecrest = _two_camps(make)
    outcome = create_backup(app.config, db.engine, clock=FakeClock())
    path = backups_dir(app.config) / f"{outcome.backup_id}.sites.json"
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["subdomain"] for line in lines[1:]] == ["lakeside", "pinecrest"]
    index = indexfiles.read_index(app.config, outcome.backup_id)
    assert indexfiles.read_index(app.config, outcome.backup_id, pinecrest)["sites"] == [
        _site(index, pinecrest)
    ]
    assert index["backup_id"] == outcome.backup_id
    assert index["created_at"] == read_manifest(outcome.path)["created_at"]
    assert [s["subdomain"] for s in index["sites"]] == ["lakeside", "pinecrest"]
    site = _site(index, lakeside)
    assert site["title"] == "Camp lakeside ☀"
    assert site["rows"] == {
        "sites": 1,
        "site_users": 1,
        "menu_items": 2,
        "media_items": 3,
        "pages": 3,
        "blocks": 6,
        "media_tags": 2,
    }
    assert [p["slug"] for p in site["pages"]] == ["home", "program", "draft"]
    folder = uploads_dir(app.config) / str(lakeside)
    files = sorted(folder.iterdir())
    assert site["files"]["count"] == 3
    assert site["files"]["bytes"] == sum(f.stat().st_size for f in files)
    assert {m["stored_name"] for m in site["media"]} == {f.name for f in files}
    assert _site(index, pinecrest)["files"]["count"] == 2


def test_the_files_fingerprint_is_that_of_the_archives_checksums(app, make, tmp_path):
    lakeside, _pinecrest = _two_camps(make)
    outcome = create_backup(app.config, db.engine, clock=FakeClock())
    index = indexfiles.read_index(app.config, outcome.backup_id)
    _manifest, members = unpack(outcome.path, tmp_path / "out")
    prefix = f"uploads/{lakeside}/"
    expected = files_digest(
        (name[len(prefix) :], len(data), hashlib.sha256(data).hexdigest())
        for name, data in members
        if name.startswith(prefix)
    )
    assert _site(index, lakeside)["files"]["sha256"] == expected


def test_a_change_to_one_page_changes_that_page_and_its_site_only(app, make):
    lakeside, pinecrest = _two_camps(make)
    clock = FakeClock()
    first = create_backup(app.config, db.engine, clock=clock)
    page = db.session.query(Page).filter_by(site_id=lakeside, slug="program").one()
    page.title = "Program 2026"
    db.session.commit()
    clock.advance(hours=1)
    second = create_backup(app.config, db.engine, clock=clock)
    before = indexfiles.read_index(app.config, first.backup_id)
    after = indexfiles.read_index(app.config, second.backup_id)
    old, new = _site(before, lakeside), _site(after, lakeside)
    changed = {p["slug"] for p in old["pages"]} - {
        p["slug"] for p in old["pages"] if p in new["pages"]
    }
    assert changed == {"program"}
    assert old["rows_sha256"] != new["rows_sha256"]
    assert old["parts"] == new["parts"]
    assert old["media"] == new["media"]
    assert old["files"] == new["files"]
    assert _site(before, pinecrest) == _site(after, pinecrest)


def test_an_older_backup_is_indexed_once_from_its_archive_alike(app, make):
    _two_camps(make)
    outcome = create_backup(app.config, db.engine, clock=FakeClock())
    path = indexfiles.index_path(app.config, outcome.backup_id)
    made = path.read_bytes()
    path.unlink()
    assert indexfiles.read_index(app.config, outcome.backup_id) is None
    lazy = indexfiles.index_backup(app.config, outcome.backup_id)
    assert path.read_bytes() == made
    assert lazy == indexfiles.read_index(app.config, outcome.backup_id)


def test_a_damaged_backup_is_indexed_as_damaged_once(app, make):
    _two_camps(make)
    outcome = create_backup(app.config, db.engine, clock=FakeClock())
    indexfiles.index_path(app.config, outcome.backup_id).unlink()
    data = bytearray(outcome.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    outcome.path.write_bytes(bytes(data))
    index = indexfiles.index_backup(app.config, outcome.backup_id)
    assert index["sites"] == []
    assert index["error"]
    assert indexfiles.read_index(app.config, outcome.backup_id) == index


def test_the_golden_backup_is_indexed_and_still_verifies(app, make):
    golden = FIXTURES / "stinkykitty-2025-07-01-020000.tar.gz"
    folder = backups_dir(app.config)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(golden, folder / golden.name)
    verify_archive(folder / golden.name)
    index = indexfiles.index_backup(app.config, "stinkykitty-2025-07-01-020000")
    # Version 1, without a tag: not authenticated, so not read for the history.
    assert "not authenticated" in index["error"]


def test_the_index_of_a_deleted_backup_goes_with_the_next_run(app, make):
    _two_camps(make)
    clock = FakeClock()
    first = create_backup(app.config, db.engine, clock=clock)
    delete_backup(app.config, first.backup_id)
    clock.advance(hours=1)
    create_backup(app.config, db.engine, clock=clock, skip_unchanged=False)
    assert not indexfiles.index_path(app.config, first.backup_id).exists()


def test_the_indexer_reads_rows_it_cannot_take_apart_quickly_in_full():
    indexer = SiteIndexer()
    indexer.watch("sites")(b'{"id":7,"subdomain":"a","title":"A"}\n')
    pages = indexer.watch("pages")
    pages(b'{"site_id":7,"id":1,"slug":"x","title":"X"}\n{"id":2,"site_id":7,"slu')
    pages(b'g":"y","title":"Y"}\n')
    blocks = indexer.watch("blocks")
    blocks(b'{"id":1,"page_id":2,"type":"text"}\n{"id":2,"page_id":99,"type":"text"}\n')
    (entry,) = indexer.entries()
    assert [p["slug"] for p in entry["pages"]] == ["x", "y"]
    assert entry["rows"]["blocks"] == 1


@pytest.mark.parametrize("line", [b"not json\n", b"[1]\n", b'{"subdomain":"a"}\n'])
def test_a_malformed_dump_line_is_refused_by_name(line):
    from app.backup.errors import CorruptArchive

    indexer = SiteIndexer()
    with pytest.raises(CorruptArchive, match="the dump of sites"):
        indexer.watch("sites")(line)
