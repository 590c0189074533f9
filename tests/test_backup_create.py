"""Making system backups: the archive, ids, unchanged content, retention, media snapshot."""

import errno
import json
import subprocess

import pytest

import app as app_package
from app.archive import extract_archive, read_manifest
from app.backup import system as system_module
from app.backup.catalog import backups_dir
from app.backup.errors import BackupError
from app.backup.history import store as indexfiles
from app.backup.system import (
    backup_status,
    create_backup,
    delete_backup,
    list_backups,
    prune_backups,
    verify_backup,
)
from app.extensions import db
from app.media import uploads_dir
from tests import craft
from tests.backupkit import FakeClock, leftovers, media_state, seed_everything


def _ids(config):
    return [info.backup_id for info in list_backups(config)]


def test_archive_holds_manifest_dump_and_media_and_standard_tools_read_it(app, make, tmp_path):
    seed_everything(make, media_files=5)
    clock = FakeClock()
    outcome = create_backup(app.config, db.engine, clock=clock)
    assert outcome.backup_id == "stinkykitty-2025-06-01-020000"
    assert outcome.path.name == "stinkykitty-2025-06-01-020000.tar.gz"
    manifest = read_manifest(outcome.path)
    assert manifest["format"] == "stinkykitty-system-backup"
    assert manifest["created_at"] == "2025-06-01T02:00:00.123456Z"
    assert manifest["app_version"] == app_package.__version__ == "0.3.0"
    assert manifest["database"] == {"dialect": "sqlite", "revision": "0002"}
    assert [t["name"] for t in manifest["tables"]] == [t.name for t in db.metadata.sorted_tables]
    assert manifest["tables"][0] == {"name": "users", "path": "db/001-users.jsonl", "rows": 3}
    assert manifest["media"]["files"] == 5
    paths = [f["path"] for f in manifest["files"]]
    assert sorted(p for p in paths if p.startswith("uploads/")) == sorted(
        "uploads/" + p for p in media_state(app.config)
    )
    assert paths[-1] == "SHA256SUMS"

    out = tmp_path / "tar"
    out.mkdir()
    listing = subprocess.run(
        ["tar", "xzvf", str(outcome.path), "-C", str(out)], capture_output=True, text=True
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0] == "manifest.json"
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=out)
    assert check.returncode == 0
    users = (out / "db/001-users.jsonl").read_text("utf-8").splitlines()
    assert json.loads(users[1])["email"] == "ünïcode-ø@example.org"


def test_two_backups_in_one_second_get_distinct_sortable_ids(app, make):
    clock = FakeClock()
    first = create_backup(app.config, db.engine, clock=clock, skip_unchanged=False)
    second = create_backup(app.config, db.engine, clock=clock, skip_unchanged=False)
    clock.now = clock.now.replace(year=2024)  # the clock stepped back
    third = create_backup(app.config, db.engine, clock=clock, skip_unchanged=False)
    assert [first.backup_id, second.backup_id, third.backup_id] == [
        "stinkykitty-2025-06-01-020000",
        "stinkykitty-2025-06-01-020001",
        "stinkykitty-2025-06-01-020002",
    ]
    assert _ids(app.config) == [third.backup_id, second.backup_id, first.backup_id]


@pytest.mark.integration
def test_unchanged_content_adds_no_copy_until_forced(any_app, make):
    config = any_app.config
    make.site(theme={"a": [1, {"b": "☃"}]})
    clock = FakeClock()
    first = create_backup(config, db.engine, clock=clock)
    clock.advance(days=1)
    again = create_backup(config, db.engine, clock=clock)
    assert not again.created
    assert again.backup_id == first.backup_id
    assert _ids(config) == [first.backup_id]

    # Confirmed current a day later: not stale although the archive is 2 days old at that point.
    clock.advance(hours=25)
    status = backup_status(config, clock=clock).to_dict()
    assert not status["stale"]
    assert status["last_success_at"] == "2025-06-02T02:00:00.123456Z"

    clock.advance(hours=1)
    forced = create_backup(config, db.engine, clock=clock, skip_unchanged=False)
    assert forced.created
    make.user()
    clock.advance(days=1)
    changed = create_backup(config, db.engine, clock=clock)
    assert changed.created
    assert len(_ids(config)) == 3


def test_a_new_media_file_alone_is_a_change(app, make):
    make.site()
    create_backup(app.config, db.engine)
    (uploads_dir(app.config) / "1").mkdir(exist_ok=True)
    (uploads_dir(app.config) / "1" / "stray.jpg").write_bytes(b"stray")
    assert create_backup(app.config, db.engine, clock=FakeClock()).created


def test_skip_unchanged_follows_the_config(make_app):
    app = make_app(BACKUP_SKIP_UNCHANGED=False)
    with app.app_context():
        create_backup(app.config, db.engine)
        assert create_backup(app.config, db.engine).created


def test_retention_keeps_the_newest_ten_of_twelve_nights(app, make):
    clock = FakeClock()
    made = []
    for _night in range(12):
        make.user()
        made.append(create_backup(app.config, db.engine, clock=clock).backup_id)
        clock.advance(days=1)
    assert _ids(app.config) == list(reversed(made[2:]))
    assert len(list(backups_dir(app.config).glob("*.tar.gz"))) == 10


def test_dead_season_keeps_the_peak_season_backups(app, make):
    clock = FakeClock()
    for _night in range(10):
        make.user()
        create_backup(app.config, db.engine, clock=clock)
        clock.advance(days=1)
    peak = _ids(app.config)
    for _night in range(60):  # September and October: nothing changes
        outcome = create_backup(app.config, db.engine, clock=clock)
        assert not outcome.created
        clock.advance(days=1)
    assert _ids(app.config) == peak
    assert not backup_status(app.config, clock=clock).to_dict()["stale"]


def test_a_failed_backup_deletes_nothing(app, make, monkeypatch):
    clock = FakeClock()
    for _night in range(3):
        make.user()
        create_backup(app.config, db.engine, clock=clock)
        clock.advance(days=1)
    before = _ids(app.config)
    app.config["BACKUP_KEEP"] = 1
    make.user()

    def broken_disk(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(system_module, "write_archive", broken_disk)
    with pytest.raises(OSError, match="Input/output"):
        create_backup(app.config, db.engine, clock=clock)
    assert _ids(app.config) == before
    assert leftovers(app.config) == []
    monkeypatch.undo()
    outcome = create_backup(app.config, db.engine, clock=clock)
    assert _ids(app.config) == [outcome.backup_id]
    assert outcome.pruned == list(before)


def test_damaged_file_is_listed_not_counted_and_not_pruned(app, make):
    clock = FakeClock()
    folder = backups_dir(app.config)
    folder.mkdir(parents=True)
    damaged = folder / "stinkykitty-2020-01-01-000000.tar.gz"
    damaged.write_bytes(b"not a tarball at all")
    (folder / "notes.txt").write_text("ignored: not a backup name")
    for _night in range(3):
        make.user()
        create_backup(app.config, db.engine, clock=clock)
        clock.advance(days=1)
    infos = list_backups(app.config)
    assert [i.ok for i in infos] == [True, True, True, False]
    assert "not a readable .tar.gz" in infos[-1].error
    assert prune_backups(app.config, keep=1) == [i.backup_id for i in infos[1:3]]
    assert damaged.exists()
    status = backup_status(app.config, clock=clock).to_dict()
    assert status["count"] == 1
    assert status["damaged"][0]["id"] == "stinkykitty-2020-01-01-000000"
    delete_backup(app.config, "stinkykitty-2020-01-01-000000.tar.gz")
    assert not damaged.exists()


def test_prune_never_deletes_the_newest_good_backup(app, make):
    create_backup(app.config, db.engine, clock=FakeClock())
    assert prune_backups(app.config, keep=0) == []
    assert len(_ids(app.config)) == 1


def test_status_turns_stale_when_the_newest_backup_is_too_old(app, make):
    clock = FakeClock()
    status = backup_status(app.config, clock=clock).to_dict()
    assert status["stale"]
    assert "no good backup" in status["reason"]
    create_backup(app.config, db.engine, clock=clock)
    clock.advance(hours=25)
    assert not backup_status(app.config, clock=clock).to_dict()["stale"]
    clock.advance(hours=2)
    status = backup_status(app.config, clock=clock).to_dict()
    assert status["stale"]
    assert "27.0 h ago, more than the 26 h allowed" in status["reason"]


def test_next_run_removes_crash_leftovers(app, make):
    folder = backups_dir(app.config)
    folder.mkdir(parents=True)
    data = folder.parent.parent
    (folder / ".stinkykitty-2025-01-01-000000.tar.gz.tmp-dead").write_bytes(b"partial")
    (folder / ".backup.tmp-dead").mkdir()
    (folder / ".backup.tmp-dead" / "001-users.jsonl").write_text("{}")
    (data / ".backup-media.tmp-dead" / "1").mkdir(parents=True)
    (data / ".restore-staging.tmp-dead").mkdir()
    old_media = data / "uploads.pre-restore-stinkykitty-2025-01-01-000000-abc123"
    (old_media / "1").mkdir(parents=True)
    assert leftovers(app.config) != [old_media.name]
    create_backup(app.config, db.engine)
    # Media set aside by an interrupted restore may be the only copy: reported, never deleted.
    assert leftovers(app.config) == [old_media.name]
    assert backup_status(app.config).to_dict()["old_media_folders"] == [str(old_media)]


def test_media_deleted_while_the_archive_is_written_is_still_backed_up(app, make, tmp_path):
    seeded = seed_everything(make, media_files=4)
    expected = media_state(app.config)
    victim = next(iter(sorted(expected)))

    def delete_a_file(phase, done, total):
        if phase == "write" and done == 1:
            (uploads_dir(app.config) / victim).unlink()

    outcome = create_backup(app.config, db.engine, progress=delete_a_file)
    assert not (uploads_dir(app.config) / victim).exists()
    extract_archive(outcome.path, tmp_path / "out")
    assert (tmp_path / "out" / "uploads" / victim).read_bytes() == expected[victim]
    assert seeded["media"]


def test_uploads_still_being_written_are_skipped(app, make):
    site = make.site()
    make.media(site, content=b"done")
    part = uploads_dir(app.config) / str(site.id) / ".0123abcd.jpg.part"
    part.write_bytes(b"half an upl")
    outcome = create_backup(app.config, db.engine)
    assert outcome.files == 1
    verify_backup(app.config, outcome.backup_id)


def test_unsupported_column_type_fails_the_backup_clearly(app, monkeypatch):
    import sqlalchemy as sa

    table = sa.Table("odd", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    table.append_column(sa.Column("numbers", sa.ARRAY(sa.Integer)))
    monkeypatch.setattr(
        system_module.db.metadata.__class__,
        "sorted_tables",
        property(lambda self: [table]),
    )
    with pytest.raises(BackupError, match=r"odd\.numbers"):
        create_backup(app.config, db.engine)
    assert list_backups(app.config) == []


def test_a_manifest_that_outgrows_its_room_is_written_after_the_dump_instead(
    app, make, monkeypatch
):
    import app.archive.writer as writer_module

    seed_everything(make, media_files=3)
    calls = []
    real_write = system_module.write_archive

    def spy(*args, **kwargs):
        calls.append("late" if kwargs.get("late") else "in turn")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(system_module, "write_archive", spy)
    monkeypatch.setattr(system_module, "_STAND_IN_ROWS", 0)  # every real count is wider
    monkeypatch.setattr(writer_module, "HEAD_MARGIN", 0)
    outcome = create_backup(app.config, db.engine, clock=FakeClock())
    assert calls == ["late", "in turn"]
    manifest = verify_backup(app.config, outcome.backup_id)
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == outcome.counts
    assert sum(outcome.counts.values()) > 0
    assert leftovers(app.config) == []
    # The site index counts each file once, as one made afresh from the archive does.
    kept = indexfiles.read_index(app.config, outcome.backup_id)
    indexfiles.index_path(app.config, outcome.backup_id).unlink()
    assert indexfiles.index_backup(app.config, outcome.backup_id) == kept
    assert sum(site["files"]["count"] for site in kept["sites"]) == 3


def test_a_dump_that_fails_midway_fails_the_backup_clearly_and_keeps_nothing(
    app, make, monkeypatch
):
    from app.dumps import dump as dbdump

    seed_everything(make, media_files=3)
    clock = FakeClock()
    older = create_backup(app.config, db.engine, clock=clock)
    make.user()
    clock.advance(days=1)
    real_dump_table = dbdump.dump_table

    def failing(conn, table, path, *rest):
        if table.name == "blocks":
            raise BackupError("cannot dump column blocks.data: the test says no")
        return real_dump_table(conn, table, path, *rest)

    monkeypatch.setattr(dbdump, "dump_table", failing)
    with pytest.raises(BackupError, match=r"blocks\.data: the test says no"):
        create_backup(app.config, db.engine, clock=clock)
    assert _ids(app.config) == [older.backup_id]
    assert leftovers(app.config) == []
    monkeypatch.undo()
    assert create_backup(app.config, db.engine, clock=clock).created


def test_the_list_checks_each_file_list_and_keeps_only_the_manifest_head(app, make):
    """Read, not held: a large list reads from a temporary database while it is kept."""
    seed_everything(make, media_files=3)
    outcome = create_backup(app.config, db.engine, clock=FakeClock())
    (info,) = list_backups(app.config)
    assert info.ok
    assert info.files == 3
    assert "files" not in info.manifest
    assert info.manifest["fingerprint"] == outcome.fingerprint
    # A manifest whose media totals are not those of its file list is listed as damaged.
    manifest = read_manifest(outcome.path)
    head = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
    head.pop("authentication", None)
    dumps = [(table["path"], b"") for table in manifest["tables"]]  # no uploads listed
    craft.honest(backups_dir(app.config) / "stinkykitty-2020-01-01-000000.tar.gz", dumps, **head)
    infos = {i.backup_id: i for i in list_backups(app.config)}
    damaged = infos["stinkykitty-2020-01-01-000000"]
    assert not damaged.ok
    assert "the media totals do not match the file list" in damaged.error
