"""Restores, imports and uploads refuse what would cost unbounded memory, with nothing changed.

The archive-level properties are in test_archive_bounds.py; these are the
same bounds where users meet them: a restore of a backup holding one huge row
(on every engine), and an owner's upload or import of an export followed by
junk, padded with a bomb of zeros, preceded by a chain of extended headers,
or holding more entries than allowed once its folders count.
"""

import gzip
import io
import json
import tarfile

import pytest

from app.archive.errors import ArchiveError, UnsafeArchive
from app.archive.tarstream import BLOCK
from app.backup.errors import RestoreFailed
from app.backup.system import create_backup, restore_backup
from app.dumps.lines import RowTooLong
from app.exports.restorejobs import imports_dir
from app.exports.siteimport import inspect_export
from app.extensions import db
from tests.backupkit import change_everything, full_state, rebuild, seed_everything, unpack
from tests.craft import extended, records
from tests.sitekit import build_camp
from tests.support.archives import SITE_EXPORT_V1
from tests.support.states import assert_import_refused, assert_untouched
from tests.support.web import login, upload_export

MiB = 1024 * 1024


@pytest.mark.integration
def test_a_row_longer_than_the_limit_is_refused_naming_table_and_line(any_app, make, tmp_path):
    app = any_app
    app.config["RESTORE_MAX_ROW_BYTES"] = 4096  # this test's own app: no other test sees it
    seed_everything(make, media_files=2)
    outcome = create_backup(app.config, db.engine)
    change_everything(make)
    state = full_state(app.config)
    manifest, files = unpack(outcome.path, tmp_path / "x")
    blocks = next(t["path"] for t in manifest["tables"] if t["name"] == "blocks")
    row = {"id": 10**6, "page_id": 1, "position": 0, "type": "text", "data": {"t": "x" * 5000}}
    files = [(p, d + json.dumps(row).encode() + b"\n" if p == blocks else d) for p, d in files]
    rebuild(outcome.path, manifest, files)
    with pytest.raises(RestoreFailed) as refused:
        restore_backup(app.config, db.engine, outcome.backup_id, allow_unauthenticated=True)
    assert isinstance(refused.value.__cause__, RowTooLong)
    message = str(refused.value)
    rows = next(t["rows"] for t in manifest["tables"] if t["name"] == "blocks")
    assert f"(table blocks, row {rows + 1}: longer than RESTORE_MAX_ROW_BYTES (4,096" in message
    assert "\n" not in message
    assert_untouched(app, state)


def _tar_of(archive):
    return gzip.decompress(archive.read_bytes())


def _end_of_entries(tar):
    """Return the offset of the end-of-archive blocks of the tar bytes ``tar``."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as parsed:
        last = parsed.getmembers()[-1]
    return last.offset_data + -(-last.size // BLOCK) * BLOCK


def _hostile_exports(tmp_path):
    """Return {case: path} of exports built from the golden one, each hostile in one way."""
    tar = _tar_of(SITE_EXPORT_V1)
    end = _end_of_entries(tar)
    cases = {
        "junk after the gzip stream": SITE_EXPORT_V1.read_bytes() + b"<html>not an export</html>",
        "junk after the end-of-archive": gzip.compress(tar + b"junk"),
        "a bomb of zeros after the end": gzip.compress(tar + bytes(64 * MiB), 9),
        "a chain of extended headers": gzip.compress(
            b"".join(extended("x", records(20_000, 40)) for _ in range(4)) + tar, 9
        ),
        "a folder entry twice": gzip.compress(tar[:end] + _folder("media") * 2 + tar[end:]),
    }
    paths = {}
    for n, (case, data) in enumerate(sorted(cases.items())):
        paths[case] = tmp_path / f"hostile-{n}.tar.gz"
        paths[case].write_bytes(data)
    return paths


def _folder(name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info.tobuf(tarfile.USTAR_FORMAT)


def test_an_upload_is_read_to_its_end_before_its_preview(make_app, make, tmp_path):
    """Each hostile export: 400, no job kept, no site touched; the golden one is still fine."""
    app = make_app()
    with app.app_context():
        owner = make.user()
        site = build_camp(make, "lakeside", owner=owner)
        client, csrf = login(app, owner)
        for case, path in _hostile_exports(tmp_path).items():
            with pytest.raises(UnsafeArchive):
                inspect_export(app.config, path)
            answer = upload_export(client, csrf, site.id, path.read_bytes())
            assert answer.status_code == 400, case
            assert "cannot be restored" in answer.get_json()["error"]
            kept = sorted(p.name for p in imports_dir(app.config).iterdir())
            assert kept == [f".upload-{site.id}.lock"], case  # the site's empty lock file alone
        assert upload_export(client, csrf, site.id, SITE_EXPORT_V1.read_bytes()).status_code == 201


def test_hostile_exports_are_refused_by_import_and_nothing_changes(app, make, tmp_path):
    target = build_camp(make, "lakeside")
    build_camp(make, "pinecrest")
    for path in _hostile_exports(tmp_path).values():
        assert_import_refused(app, path, target.id)


def test_folder_entries_count_against_the_member_limit(make_app, make, tmp_path):
    """An export within SITE_IMPORT_MAX_MEMBERS by its file list, over it with its folders."""
    manifest, files = unpack(SITE_EXPORT_V1, tmp_path / "golden")
    listed = len(manifest["files"])
    small = make_app(SITE_IMPORT_MAX_MEMBERS=listed)
    with small.app_context():
        target = build_camp(make, "lakeside")
        inspect_export(small.config, SITE_EXPORT_V1)  # exactly at the limit: fine
        folder = tarfile.TarInfo("media")
        folder.type = tarfile.DIRTYPE
        with_folder = rebuild(tmp_path / "folders.tar.gz", manifest, files, extra_entries=[folder])
        message = assert_import_refused(small, with_folder, target.id)
        assert "folders count too" in message
        with pytest.raises(ArchiveError, match="folders count too"):
            inspect_export(small.config, with_folder)
