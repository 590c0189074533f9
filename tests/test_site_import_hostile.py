"""A site export is untrusted: hostile or inconsistent ones are refused with nothing changed."""

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.exports.siteimport import import_site
from app.extensions import db
from app.models import MediaItem
from tests import craft
from tests.backupkit import rebuild, unpack
from tests.processes import clean_env
from tests.sitekit import all_site_ids, build_camp, site_files, snapshot
from tests.support.states import assert_import_refused

GOLDEN = Path(__file__).parent / "fixtures" / "site-export-v1.tar.gz"


def _edit_json(name, change):
    def edit(files, manifest, other_media_id):
        out = []
        for path, data in files:
            if path == name:
                value = json.loads(data)
                change(value, other_media_id)
                data = json.dumps(value).encode()
            out.append((path, data))
        return out, {}, ()

    return edit


def _set_block(value, other):
    value[0]["blocks"][0]["data"]["media_id"] = other


def _duplicate_page_id(value, _other):
    value[1]["id"] = value[0]["id"]


def _duplicate_media_id(value, _other):
    value[1]["id"] = value[0]["id"]


def _deep_ref(value, _other):
    value[0]["blocks"][2]["data"]["images"].append({"media_id": 999999})


def _unknown_key(value, _other):
    value["owner_password"] = "x"


def _wrong_type(value, _other):
    value[0]["title"] = 42


def _float_id(value, _other):
    value[0]["id"] = 1.5


def _other_file(value, _other):
    value[0]["file"] = "media/../../etc/passwd"


def _unsafe_subdomain(value, _other):
    value["subdomain"] = "../x"


def _plain(edit):
    """Wrap a change of the file list alone."""

    def run(files, manifest, _other):
        return edit(files, manifest)

    return run


HOSTILE = {
    "a block points at another site's media": _edit_json("pages.json", _set_block),
    "a gallery points at media the archive lacks": _edit_json("pages.json", _deep_ref),
    "two pages share an id": _edit_json("pages.json", _duplicate_page_id),
    "two media items share an id": _edit_json("media.json", _duplicate_media_id),
    "site.json has an unknown key": _edit_json("site.json", _unknown_key),
    "a page title is a number": _edit_json("pages.json", _wrong_type),
    "a menu id is a float": _edit_json("menu.json", _float_id),
    "a media file path escapes": _edit_json("media.json", _other_file),
    "site.json is of another site": _edit_json("site.json", _unsafe_subdomain),
    "a member outside the folder": _plain(lambda f, m: ([*f, ("../evil.txt", b"x")], {}, ())),
    "an absolute member": _plain(lambda f, m: ([*f, ("/tmp/evil.txt", b"x")], {}, ())),
    "an unlisted member": _plain(lambda f, m: (f, {}, [("media/extra.png", b"x")])),
    "a symbolic link": _plain(
        lambda f, m: (f, {}, [craft.special("media/link.png", tarfile.SYMTYPE, "/etc/passwd")])
    ),
    "an unexpected member": _plain(lambda f, m: ([*f, ("app.py", b"import os")], {}, ())),
    "a media file no item owns": _plain(lambda f, m: ([*f, ("media/stray.png", b"x")], {}, ())),
    "a newer export format": _plain(lambda f, m: (f, {"export_format_version": 99}, ())),
    "bad JSON": _plain(
        lambda f, m: ([(p, b"{not json" if p == "menu.json" else d) for p, d in f], {}, ())
    ),
}


@pytest.fixture
def hosted(app, make):
    """Return (id of a site to replace, id of a media item of its neighbour)."""
    target = build_camp(make, "lakeside")
    neighbour = build_camp(make, "pinecrest")
    other_media = db.session.scalar(
        sa.select(MediaItem.id).where(MediaItem.site_id == neighbour.id)
    )
    return target.id, other_media


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_export_is_refused_and_nothing_changes(app, hosted, tmp_path, case):
    target_id, other_media = hosted
    manifest, files = unpack(GOLDEN, tmp_path / "golden")
    files, changes, extra = HOSTILE[case](files, manifest, other_media)
    archive = rebuild(tmp_path / "hostile.tar.gz", manifest, files, extra_entries=extra, **changes)
    assert_import_refused(app, archive, target_id)


def test_a_system_backup_is_not_a_site_export(app, hosted, tmp_path):
    target_id, _ = hosted
    manifest, files = unpack(GOLDEN, tmp_path / "golden")
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    archive = craft.honest(tmp_path / "backup.tar.gz", files, "stinkykitty-system-backup", **fields)
    assert "not a StinkyKitty site export" in assert_import_refused(app, archive, target_id)


def test_a_tampered_member_is_refused(app, hosted, tmp_path):
    target_id, _ = hosted
    manifest, files = unpack(GOLDEN, tmp_path / "golden")
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    listed = craft.manifest_for([(p, len(d)) for p, d in files], manifest["format"], **fields)
    sums = craft.sums_for([("manifest.json", listed), *files])  # of the bytes before tampering
    tampered = [(p, d.replace(b"Golden", b"Evil!!")) for p, d in files]
    archive = craft.build(
        tmp_path / "tampered.tar.gz",
        [("manifest.json", listed), *tampered, ("SHA256SUMS", sums)],
    )
    assert "checksum" in assert_import_refused(app, archive, target_id)


def test_limits_on_size_and_members(make_app, make, tmp_path):
    small = make_app(SITE_IMPORT_MAX_BYTES=4096)
    with small.app_context():
        target = build_camp(make, "lakeside")
        assert "more than the 4,096 bytes allowed" in assert_import_refused(
            small, GOLDEN, target.id
        )
    few = make_app(SITE_IMPORT_MAX_MEMBERS=5)
    with few.app_context():
        target = build_camp(make, "lakeside")
        assert "too many members" in assert_import_refused(few, GOLDEN, target.id)


KILLER = """
import os, signal, sys
from app import create_app
from app.extensions import db
from app.exports.siteimport import import_site
app = create_app()
with app.app_context():
    import_site(app.config, db.engine, sys.argv[1], replace_site_id=int(sys.argv[2]),
                before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL))
"""


@pytest.mark.integration
def test_an_import_killed_before_its_commit_leaves_the_site_as_it_was(any_app, make):
    config = any_app.config
    target_id = build_camp(make, "lakeside").id
    build_camp(make, "pinecrest")
    before = snapshot(config, all_site_ids())
    env = clean_env(
        STINKY_DATA_DIR=config["STINKY_DATA_DIR"],
        SECRET_KEY="test-secret",
        DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
    )
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(GOLDEN), str(target_id)], env=env, capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]

    after = snapshot(config, all_site_ids())
    rows_before = {sid: rows for sid, (rows, _files) in before[0].items()}
    assert {sid: rows for sid, (rows, _files) in after[0].items()} == rows_before
    for sid, (_rows, files) in before[0].items():
        now = site_files(config, sid)
        assert {
            name: now[name] for name in files
        } == files  # every file the rows refer to is intact
    # The next import of the site finishes the job and leaves no file behind that nothing uses.
    db.session.remove()
    import_site(config, db.engine, GOLDEN, replace_site_id=target_id)
    names = set(
        db.session.scalars(sa.select(MediaItem.stored_name).where(MediaItem.site_id == target_id))
    )
    assert set(site_files(config, target_id)) == names
