"""Archives are authenticated: a forged or foreign backup is refused unless a person allows it."""

import json

import pytest
import sqlalchemy as sa

from app.archive import Member, checksums_size, extract_archive, verify_archive, write_archive
from app.archive.errors import CorruptArchive, Unauthenticated
from app.backup.catalog import backups_dir
from app.backup.system import create_backup, restore_backup, verify_backup
from app.config import archive_key
from app.errors import DAMAGED
from app.exports.export import export_site
from app.extensions import db
from app.models import User
from tests import craft
from tests.backupkit import full_state, rebuild, unpack


@pytest.fixture
def made(app, make, tmp_path):
    make.user(email="owner@example.org")
    make.site()
    outcome = create_backup(app.config, db.engine)
    manifest, files = unpack(outcome.path, tmp_path / "unpacked")
    return outcome, manifest, files


def _promote_everyone(files):
    """The forger's edit: every user becomes a global admin."""
    return [
        (name, data.replace(b'"is_global_admin":false', b'"is_global_admin":true'))
        for name, data in files
    ]


def _rewrite(path, manifest, files, key):
    """Write a well-formed archive as someone holding ``key`` would."""
    meta = {
        k: v for k, v in manifest.items() if k not in ("format_version", "files", "authentication")
    }
    members = [Member(name, len(data), data) for name, data in files]
    path.unlink()
    write_archive(path, meta, members, key=key)


def test_a_new_backup_is_authenticated_by_the_backup_key(app, made, runner):
    outcome, manifest, _files = made
    assert manifest["format_version"] == 2
    assert manifest["authentication"]["algorithm"] == "HMAC-SHA256"
    assert manifest["authentication"]["member"] == "HMAC-SHA256"
    assert "HMAC-SHA256" not in [f["path"] for f in manifest["files"]]
    assert verify_backup(app.config, outcome.backup_id) == manifest
    verify_archive(outcome.path, key=archive_key(app.config))
    with pytest.raises(Unauthenticated, match="another key"):
        verify_archive(outcome.path, key=b"some other key")
    said = runner.invoke(args=["backup", "verify", outcome.backup_id])
    assert said.exit_code == 0
    assert "authenticated" in said.stdout


def test_a_forged_backup_without_a_tag_is_refused_and_restores_nothing(app, made, runner):
    outcome, manifest, files = made
    rebuild(outcome.path, manifest, _promote_everyone(files))  # consistent checksums, no tag
    before = full_state(app.config)
    with pytest.raises(Unauthenticated, match=r"no authentication tag.*otherwise intact"):
        verify_backup(app.config, outcome.backup_id)
    with pytest.raises(Unauthenticated):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert full_state(app.config) == before
    assert db.session.scalar(sa.select(sa.func.count()).where(User.is_global_admin)) == 0
    line = runner.invoke(args=["backup", "verify", outcome.backup_id])
    assert line.exit_code == DAMAGED
    assert "not authenticated" in line.stderr
    assert "checksums are otherwise intact" in line.stderr


def test_a_forged_backup_tagged_with_another_key_is_refused(app, made):
    outcome, manifest, files = made
    _rewrite(outcome.path, manifest, _promote_everyone(files), key=b"the forger's key")
    with pytest.raises(Unauthenticated, match=r"made with another key.*otherwise intact"):
        verify_backup(app.config, outcome.backup_id)


def test_a_forged_manifest_under_the_old_tag_is_refused(app, made, tmp_path):
    outcome, manifest, files = made
    extract_archive(outcome.path, tmp_path / "orig")
    tag = (tmp_path / "orig" / "HMAC-SHA256").read_bytes()
    # same key id, same tag, new content (the file list of a large archive reads as a list)
    forged = dict(manifest, files=list(manifest["files"]), app_version="6.6.6")
    head = json.dumps(forged).encode()
    sums = craft.sums_for([("manifest.json", head), *files, ("HMAC-SHA256", tag)])
    entries = [("manifest.json", head), *files, ("HMAC-SHA256", tag), ("SHA256SUMS", sums)]
    outcome.path.unlink()
    craft.build(outcome.path, entries)
    with pytest.raises(Unauthenticated, match=r"does not match \(forged or altered\)"):
        verify_backup(app.config, outcome.backup_id)
    _rewrite(outcome.path, forged, files, key=archive_key(app.config))  # the key holder: fine
    assert verify_backup(app.config, outcome.backup_id)["app_version"] == "6.6.6"


def test_a_damaged_and_unauthenticated_archive_says_both(tmp_path):
    files = [("uploads/1/a.jpg", b"real bytes")]
    sums_size = checksums_size(["manifest.json", "uploads/1/a.jpg", "HMAC-SHA256"])
    manifest = json.dumps(
        {
            "format": "stinkykitty-system-backup",
            "format_version": 2,
            "authentication": {"algorithm": "HMAC-SHA256", "member": "HMAC-SHA256", "key_id": "0"},
            "files": [
                {"path": "uploads/1/a.jpg", "size": 10},
                {"path": "SHA256SUMS", "size": sums_size},
            ],
        }
    ).encode()
    tag = b"0" * 64 + b"\n"
    sums = craft.sums_for([("manifest.json", manifest), ("uploads/1/a.jpg", b"rotten byt")])
    sums += craft.sums_for([("HMAC-SHA256", tag)])
    entries = [("manifest.json", manifest), *files, ("HMAC-SHA256", tag), ("SHA256SUMS", sums)]
    path = craft.build(tmp_path / "x.tar.gz", entries)
    with pytest.raises(Unauthenticated, match=r"another key.*not intact either.*mismatch"):
        verify_archive(path, key=b"our key")
    with pytest.raises(CorruptArchive, match="checksum mismatch"):
        verify_archive(path)


def test_a_backup_from_another_server_restores_only_when_allowed(make_app, make, runner):
    source = make_app(BACKUP_KEY="server one")
    with source.app_context():
        make.site(subdomain="from-server-one")
        outcome = create_backup(source.config, db.engine)
        expected = full_state(source.config)
    target = make_app(BACKUP_KEY="server two")
    with target.app_context():
        backups_dir(target.config).mkdir(parents=True)
        (backups_dir(target.config) / outcome.path.name).write_bytes(outcome.path.read_bytes())
        with pytest.raises(Unauthenticated, match="another key"):
            restore_backup(target.config, db.engine, outcome.backup_id)
        cli = target.test_cli_runner()
        refused = cli.invoke(args=["backup", "restore", outcome.backup_id, "--yes"])
        assert refused.exit_code == DAMAGED
        assert "--allow-unauthenticated" in refused.stderr
        allowed = cli.invoke(
            args=["backup", "restore", outcome.backup_id, "--yes", "--allow-unauthenticated"]
        )
        assert allowed.exit_code == 0, allowed.output
        assert full_state(target.config)[0] == expected[0]


def test_the_backup_key_is_generated_once_into_the_data_dir(make_app, tmp_path):
    first = make_app(data_dir=tmp_path / "data", BACKUP_KEY=None)
    key_file = tmp_path / "data" / "backup_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert archive_key(first.config) == key_file.read_text().strip().encode()
    assert len(key_file.read_text().strip()) == 64
    again = make_app(data_dir=tmp_path / "data", BACKUP_KEY=None)
    assert archive_key(again.config) == archive_key(first.config)
    other = make_app(data_dir=tmp_path / "elsewhere", BACKUP_KEY=None)
    assert archive_key(other.config) != archive_key(first.config)
    assert archive_key(make_app(BACKUP_KEY="from the environment").config) == (
        b"from the environment"
    )


def test_a_site_export_carries_the_same_tag(app, make):
    site = make.site()
    make.media(site)
    result = export_site(app.config, site.id)
    manifest = verify_archive(result.path, key=archive_key(app.config))
    assert manifest["authentication"]["key_id"]
    with pytest.raises(Unauthenticated, match="another key"):
        verify_archive(result.path, key=b"a foreign server's key")
