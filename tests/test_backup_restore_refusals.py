"""A restore that fails, or is refused, leaves the database and the media exactly as they were."""

import tarfile

import pytest
from sqlalchemy import event

from app.backup.catalog import backups_dir
from app.backup.errors import (
    BackupLocked,
    CorruptArchive,
    NotEnoughSpace,
    RestoreFailed,
    SchemaMismatch,
    UnsafeArchive,
)
from app.backup.restore import system as restore_module
from app.backup.system import create_backup, restore_backup
from app.coordination.lock import backup_lock
from app.extensions import db
from tests import craft
from tests.backupkit import (
    change_everything,
    full_state,
    leftovers,
    rebuild,
    seed_everything,
    unpack,
)
from tests.support.states import assert_untouched

pytestmark = pytest.mark.integration


@pytest.fixture
def changed(request, make):
    """A backup of seeded data, then changes after it: returns (app, backup outcome, state now)."""
    app = request.getfixturevalue("any_app" if "any_app" in request.fixturenames else "app")
    seed_everything(make, media_files=6)
    outcome = create_backup(app.config, db.engine)
    change_everything(make)
    return app, outcome, full_state(app.config)


@pytest.fixture
def any_changed(any_app, changed):
    return changed


def test_failure_during_database_load_rolls_everything_back(any_changed, monkeypatch):
    app, outcome, state = any_changed
    real_load = restore_module.load_database

    def load_then_fail(conn, entries, **kw):
        real_load(conn, entries, **kw)  # every row deleted and reloaded, not yet committed
        raise RuntimeError("injected failure after loading")

    monkeypatch.setattr(restore_module, "load_database", load_then_fail)
    with pytest.raises(RestoreFailed, match=r"while loading the database.*injected failure"):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


@pytest.mark.parametrize("after_rename", [False, True])
def test_failure_during_media_swap_rolls_everything_back(any_changed, monkeypatch, after_rename):
    app, outcome, state = any_changed
    real_install = restore_module._install_media

    def install_then_fail(staged, uploads):
        if after_rename:
            real_install(staged, uploads)
        raise OSError("injected failure while swapping media")

    monkeypatch.setattr(restore_module, "_install_media", install_then_fail)
    with pytest.raises(RestoreFailed, match="while swapping the media folder"):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


def test_failure_at_commit_rolls_the_media_back(changed):
    app, outcome, state = changed

    def refuse_commit(conn):
        raise ConnectionError("injected: the database went away at commit")

    event.listen(db.engine, "commit", refuse_commit)
    try:
        with pytest.raises(RestoreFailed, match=r"while committing.*went away"):
            restore_backup(app.config, db.engine, outcome.backup_id)
    finally:
        event.remove(db.engine, "commit", refuse_commit)
    assert_untouched(app, state)


# --- damaged archives ---------------------------------------------------------------------


def _manifest_bytes(manifest, listed, **changes):
    """Return manifest bytes with ``manifest``'s fields (and ``changes``) listing ``listed``."""
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    return craft.manifest_for(listed, manifest["format"], **{**fields, **changes})


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif how == "flipped byte":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "flipped byte"])
def test_damaged_archive_is_refused_with_nothing_changed(any_changed, how):
    app, outcome, state = any_changed
    _damage(outcome.path, how)
    with pytest.raises(CorruptArchive):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


def test_member_with_a_different_checksum_is_refused(changed, tmp_path):
    app, outcome, state = changed
    manifest, files = unpack(outcome.path, tmp_path / "x")
    manifest_bytes = _manifest_bytes(manifest, [(n, len(d)) for n, d in files])
    sums = craft.sums_for([("manifest.json", manifest_bytes), *files])
    name = next(n for n, _d in files if n.startswith("uploads/"))
    tampered = [(n, (bytes([d[0] ^ 1]) + d[1:]) if n == name else d) for n, d in files]
    craft.build(outcome.path, [("manifest.json", manifest_bytes), *tampered, ("SHA256SUMS", sums)])
    with pytest.raises(CorruptArchive, match="checksum mismatch"):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


def test_archive_without_manifest_is_refused(changed, tmp_path):
    app, outcome, state = changed
    _manifest, files = unpack(outcome.path, tmp_path / "x")
    craft.build(outcome.path, [*files, ("SHA256SUMS", craft.sums_for(files))])
    with pytest.raises(CorruptArchive, match="manifest"):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


def test_backup_from_a_newer_schema_is_refused(changed, tmp_path):
    app, outcome, state = changed
    manifest, files = unpack(outcome.path, tmp_path / "x")
    newer = {**manifest["database"], "revision": "9999_from_the_future"}
    rebuild(outcome.path, manifest, files, database=newer, app_version="9.0.0")
    with pytest.raises(SchemaMismatch, match=r"newer StinkyKitty 9\.0\.0.*upgrade"):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


# --- hostile archives ---------------------------------------------------------------------


def _hostile_entries(case, outside):
    if case == "dotdot":
        return [("uploads/../../evil.txt", b"x")]
    if case == "absolute":
        return [(str(outside / "evil.txt"), b"x")]
    if case == "symlink then file through it":
        return [
            craft.special("uploads/9", tarfile.SYMTYPE, str(outside)),
            ("uploads/9/evil.txt", b"x"),
        ]
    if case == "hard link":
        return [craft.special("uploads/9/passwd", tarfile.LNKTYPE, "/etc/passwd")]
    if case == "device":
        return [craft.special("uploads/9/null", tarfile.CHRTYPE)]
    if case == "unlisted member":
        return [("uploads/9/extra.jpg", b"not in the manifest")]
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "dotdot",
        "absolute",
        "symlink then file through it",
        "hard link",
        "device",
        "unlisted member",
    ],
)
def test_hostile_archive_is_refused_and_nothing_lands_anywhere(changed, tmp_path, case):
    app, outcome, state = changed
    outside = tmp_path / "outside"
    outside.mkdir()
    manifest, files = unpack(outcome.path, tmp_path / "x")
    rebuild(outcome.path, manifest, files, extra_entries=_hostile_entries(case, outside))
    with pytest.raises(UnsafeArchive):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_size_bomb_is_refused_before_anything_is_written(changed, tmp_path):
    app, outcome, state = changed
    manifest, files = unpack(outcome.path, tmp_path / "x")
    # The manifest lists 5 bytes; the member inflates to 20 MB of zeros (a few KB compressed).
    listed = [*((n, len(d)) for n, d in files), ("uploads/9/bomb.jpg", 5)]
    media = {"files": manifest["media"]["files"] + 1, "bytes": manifest["media"]["bytes"] + 5}
    manifest_bytes = _manifest_bytes(manifest, listed, media=media)
    entries = [("manifest.json", manifest_bytes), *files, ("uploads/9/bomb.jpg", bytes(20_000_000))]
    craft.build(outcome.path, entries)
    with pytest.raises(UnsafeArchive, match=r"bomb\.jpg"):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


def test_manifest_claiming_more_than_the_disk_holds_is_refused(changed, tmp_path):
    app, outcome, state = changed
    manifest, files = unpack(outcome.path, tmp_path / "x")
    listed = [*((n, len(d)) for n, d in files), ("uploads/9/huge.jpg", 10**15)]
    media = {"files": manifest["media"]["files"] + 1, "bytes": manifest["media"]["bytes"] + 10**15}
    manifest_bytes = _manifest_bytes(manifest, listed, media=media)
    craft.build(outcome.path, [("manifest.json", manifest_bytes), *files])
    with pytest.raises(NotEnoughSpace, match=r"needs about 909\.5 TiB"):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


def test_restore_is_refused_while_a_backup_runs(changed):
    app, outcome, state = changed
    with (
        backup_lock(app.config, "backup"),
        pytest.raises(BackupLocked, match="a backup is running"),
    ):
        restore_backup(app.config, db.engine, outcome.backup_id)
    assert_untouched(app, state)


def test_restore_leaves_no_staging_even_when_refused_late(changed, monkeypatch):
    """A crash leftover staging folder is removed by the next restore."""
    app, outcome, _state = changed
    stale = backups_dir(app.config).parent.parent / ".restore-staging.tmp-dead"
    (stale / "uploads").mkdir(parents=True)
    restore_backup(app.config, db.engine, outcome.backup_id)
    assert not stale.exists()
    assert leftovers(app.config) == []
