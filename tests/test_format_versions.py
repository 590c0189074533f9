"""Every archive format version we ever wrote keeps reading: the golden files in tests/fixtures/.

They were made by format version 1 (before archives were authenticated) and
are never regenerated: a change that stops reading them breaks old backups.
"""

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.archive import extract_archive, read_manifest, verify_archive
from app.archive.errors import Unauthenticated
from app.backup.catalog import backups_dir
from app.backup.system import restore_backup, verify_backup
from app.config import archive_key
from app.errors import DAMAGED
from app.extensions import db
from app.media import uploads_dir
from app.models import MediaItem, Page, Site

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1_BACKUP = FIXTURES / "stinkykitty-2025-07-01-020000.tar.gz"
V1_EXPORT = FIXTURES / "site-1-2025-07-01-020000.tar.gz"
V1_ID = "stinkykitty-2025-07-01-020000"


def test_version_1_archives_still_read_and_verify(tmp_path):
    for path in (V1_BACKUP, V1_EXPORT):
        manifest = read_manifest(path)
        assert manifest["format_version"] == 1
        assert verify_archive(path) == manifest
        extract_archive(path, tmp_path / path.name)
        assert (tmp_path / path.name / "SHA256SUMS").exists()
    assert read_manifest(V1_EXPORT)["site"]["subdomain"] == "golden"


def test_version_1_archives_are_not_authenticated(tmp_path):
    for path in (V1_BACKUP, V1_EXPORT):
        with pytest.raises(Unauthenticated, match=r"no authentication tag.*otherwise intact"):
            verify_archive(path, key=b"any key")


@pytest.fixture
def golden(app):
    backups_dir(app.config).mkdir(parents=True)
    shutil.copy(V1_BACKUP, backups_dir(app.config))
    return app


def test_version_1_backup_verifies_only_when_allowed(golden, runner):
    with pytest.raises(Unauthenticated, match="otherwise intact"):
        verify_backup(golden.config, V1_ID)
    assert verify_backup(golden.config, V1_ID, allow_unauthenticated=True)["format_version"] == 1
    refused = runner.invoke(args=["backup", "verify", V1_ID])
    assert refused.exit_code == DAMAGED
    assert "--allow-unauthenticated" in refused.stderr
    allowed = runner.invoke(args=["backup", "verify", V1_ID, "--allow-unauthenticated"])
    assert allowed.exit_code == 0, allowed.output
    assert "intact but not authenticated" in allowed.stdout


@pytest.mark.integration
def test_version_1_backup_restores_with_allow_unauthenticated(any_app, make):
    config = any_app.config
    backups_dir(config).mkdir(parents=True)
    shutil.copy(V1_BACKUP, backups_dir(config))
    make.site(subdomain="to-be-replaced")
    with pytest.raises(Unauthenticated):
        restore_backup(config, db.engine, V1_ID)
    assert db.session.scalar(sa.select(Site.subdomain)) == "to-be-replaced"
    db.session.remove()  # no transaction of the test's own left open on the tables

    restore_backup(config, db.engine, V1_ID, allow_unauthenticated=True)
    db.session.remove()
    site = db.session.scalar(sa.select(Site))
    assert (site.subdomain, site.title, site.theme) == (
        "golden",
        "Golden Camp ☀",
        {"color": "#2a7", "fonts": ["Inter"]},
    )
    page = db.session.scalar(sa.select(Page))
    assert [b.data for b in page.blocks] == [{"html": "<p>Héllo</p>"}, {"ids": []}]
    media = db.session.scalar(sa.select(MediaItem))
    assert (uploads_dir(config) / media.relative_path).read_bytes() == b"\x89PNG golden bytes " * 8


def test_restore_prompt_says_the_archive_is_not_authenticated(golden, runner):
    answer = runner.invoke(
        args=["backup", "restore", V1_ID, "--allow-unauthenticated"], input="n\n"
    )
    assert answer.exit_code == 1
    assert "NOT authenticated by this server's BACKUP_KEY. Continue? (y/n)" in answer.stdout
    assert archive_key(golden.config) == b"test-backup-key"
