"""Site history reaches the off-site copies: listed from the record alone, fetched when restored.

A backup copied off-site and then pruned here keeps its site index while the
local record of off-site copies holds the copy: `flask site history` lists
that version (``offsite``) without a request to the store, a restore of it
fetches and checks the copy first (server-side) and is undone exactly, a
damaged copy fails the job with nothing changed, and the index goes with the
copy when remote retention prunes it.
"""

import json
import socket

import pytest
import sqlalchemy as sa
from pyrage import x25519

from app.backup import runs
from app.backup.catalog import backup_path, backups_dir, index_path
from app.backup.history import site_history, sweep_orphans
from app.backup.offsite import read_record, remote_copies
from app.backup.offsite import store as offsite_store
from app.coordination import backup_lock
from app.exports import restorejobs
from app.extensions import db
from app.models import Site, User
from tests.backupkit import FakeClock, full_state
from tests.historykit import queue_history, run_history
from tests.s3kit import s3_client
from tests.sitekit import build_camp
from tests.support.states import assert_untouched, camp_site, edit_site, other_sites_state
from tests.support.web import login, post_json
from tests.undokit import exact_site, run, undo

OFFSITE_TEXT = "off-site copy, fetched when restored"


def three_nights(app, make):
    """Back lakeside up three nights, edited in between; return ids and states, oldest first.

    The dict holds the app, the site and owner ids, the backup ids and the
    site's exact state (rows and file bytes) at each of them.
    """
    owner = make.user(email="owner@lakeside.example")
    site = build_camp(make, "lakeside", owner=owner, members=[(make.user(), "editor")])
    site_id, owner_id = site.id, owner.id
    build_camp(make, "pinecrest")
    clock, ids, states = FakeClock(), [], []
    for night in range(3):
        if night:
            edit_site(make, site_id, f"night{night}")
            clock.advance(days=1)
        states.append(exact_site(app.config, site_id))
        record, outcome = runs.run_backup(
            app.config, db.engine, trigger="cli", clock=clock, skip_unchanged=False
        )
        assert record["offsite"] == "ok", record["offsite_error"]
        ids.append(outcome.backup_id)
    return {"app": app, "site": site_id, "owner": owner_id, "ids": ids, "states": states}


@pytest.fixture
def season(make_app, make, s3_config):
    """Three nights of lakeside: the newest backup kept here, every one off-site."""
    app = make_app(BACKUP_KEEP=1, **s3_config)
    with app.app_context():
        yield three_nights(app, make)


def _dead_endpoint():
    """Return the URL of a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_an_offsite_only_version_is_listed_from_the_record_without_the_store(season):
    app, ids = season["app"], season["ids"]
    assert [p.name for p in backups_dir(app.config).glob("*.tar.gz")] == [f"{ids[2]}.tar.gz"]
    assert all(index_path(app.config, backup_id).is_file() for backup_id in ids)  # swept, kept
    app.config["BACKUP_STORAGE_ENDPOINT"] = _dead_endpoint()  # any request would fail

    runner = app.test_cli_runner()
    result = runner.invoke(args=["site", "history", "lakeside", "--json"])
    assert result.exit_code == 0, result.output
    versions = json.loads(result.stdout)["versions"]
    assert [(v["backup_id"], v["offsite"]) for v in versions] == [
        (ids[2], False),
        (ids[1], True),
        (ids[0], True),
    ]
    assert versions[0]["same_as_now"]
    assert not versions[1]["same_as_now"]
    text = runner.invoke(args=["site", "history", "lakeside"])
    assert text.exit_code == 0, text.output
    assert text.output.count(OFFSITE_TEXT) == 2


def test_identical_versions_collapse_onto_the_copy_that_is_here(make_app, make, s3_config):
    app = make_app(BACKUP_KEEP=1, **s3_config)
    with app.app_context():
        site_id, _owner = camp_site(make)
        clock, ids = FakeClock(), []
        for _night in range(2):
            _record, outcome = runs.run_backup(
                app.config, db.engine, trigger="cli", clock=clock, skip_unchanged=False
            )
            ids.append(outcome.backup_id)
            clock.advance(days=1)
        db.session.remove()
        (version,) = site_history(app.config, db.engine, site_id, "lakeside").versions
    assert version.backups == [ids[1], ids[0]]
    assert (version.backup_id, version.offsite) == (ids[1], False)


def test_restoring_an_offsite_version_fetches_it_then_undo_is_exact(season, monkeypatch):
    app, site_id, owner_id = season["app"], season["site"], season["owner"]
    oldest, then = season["ids"][0], season["states"][0]
    config = app.config
    with app.app_context():
        now = exact_site(config, site_id)
        others = other_sites_state(config, site_id)
        client, csrf = login(app, db.session.get(User, owner_id))
        base = f"/admin/sites/{site_id}/history"
        page = client.get(base, headers={"Accept": "application/json"}).get_json()
        listed = {v["backup_id"]: v["offsite"] for v in page["versions"]}
        assert listed[oldest] is True
        assert OFFSITE_TEXT in client.get(base).get_data(as_text=True)
        preview = client.get(f"{base}/versions/{oldest}").get_json()
        assert preview["offsite"] is True
        started = post_json(client, csrf, preview["restore_url"], {"confirm": "lakeside"})
        assert started.status_code == 202, started.get_json()
        job_id = started.get_json()["job_id"]

        phases = _phases(monkeypatch)
        assert run_history(config, job_id) == "done", restorejobs.read_job(config, job_id)["error"]
        assert phases.index("fetching") < phases.index("restoring")
        assert exact_site(config, site_id) == then  # every row and file's bytes of that night
        assert other_sites_state(config, site_id) == others
        assert backup_path(config, oldest).is_file()  # fetched, checked and placed here

        undo_id = undo(config, job_id, site_id, owner_id)
        assert run(config, undo_id) == "done", restorejobs.read_job(config, undo_id)["error"]
        assert exact_site(config, site_id) == now
        assert other_sites_state(config, site_id) == others


def _phases(monkeypatch):
    """Return the list the phases of every job write go to, from now on."""
    phases, real_write = [], restorejobs.write_job

    def write_job(config, job):
        phases.append((job.get("progress") or {}).get("phase"))
        return real_write(config, job)

    monkeypatch.setattr(restorejobs, "write_job", write_job)
    return phases


def test_a_damaged_offsite_copy_fails_the_job_and_changes_nothing(season, s3_config):
    app, site_id, owner_id = season["app"], season["site"], season["owner"]
    oldest = season["ids"][0]
    config = app.config
    bucket, prefix = s3_config["BACKUP_STORAGE_URL"].removeprefix("s3://").split("/", 1)
    client = s3_client(s3_config["BACKUP_STORAGE_ENDPOINT"])
    key = f"{prefix}/{oldest}.tar.gz"
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF  # one bit flipped in the store
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    with app.app_context():
        before = full_state(config)
        job_id = queue_history(config, site_id, owner_id, oldest)
        assert run_history(config, job_id) == "failed"
        error = restorejobs.read_job(config, job_id)["error"]
        assert error == (
            f"the off-site copy of backup {oldest} is damaged; nothing was fetched. "
            "The site is as it was."
        )
        assert_untouched(app, before)  # every row and file, no flag, no leftovers
        assert not (backups_dir(config) / f"{oldest}.tar.gz").exists()


def test_the_index_goes_with_the_copy_remote_retention_prunes(make_app, make, s3_config):
    app = make_app(BACKUP_KEEP=1, BACKUP_REMOTE_KEEP=2, **s3_config)
    with app.app_context():
        ids = three_nights(app, make)["ids"]
        assert [c["backup_id"] for c in remote_copies(app.config)] == ids[:0:-1]
        assert not index_path(app.config, ids[0]).exists()  # pruned off-site, gone here
        assert index_path(app.config, ids[1]).exists()  # its copy is kept
        db.session.remove()
        site_id = db.session.scalar(sa.select(Site.id).filter_by(subdomain="lakeside"))
        history = site_history(app.config, db.engine, site_id, "lakeside")
        assert [v.backup_id for v in history.versions] == ids[:0:-1]


def test_an_index_whose_copy_is_no_longer_recorded_is_swept(season):
    app, ids = season["app"], season["ids"]
    config = app.config
    with app.app_context():
        offsite_store.note(config, forget=[ids[1]])
        assert ids[1] not in read_record(config)["copies"]
        db.session.remove()
        listed = site_history(config, db.engine, season["site"], "lakeside").versions
        assert [v.backup_id for v in listed] == [ids[2], ids[0]]  # at once, from the record
        with backup_lock(config, "test"):
            assert sweep_orphans(config) == [f"{ids[1]}.sites.json"]
        assert index_path(config, ids[0]).exists()
        assert index_path(config, ids[2]).exists()


def test_a_store_that_does_not_answer_fails_the_job_and_changes_nothing(season):
    app, site_id, owner_id = season["app"], season["site"], season["owner"]
    oldest = season["ids"][0]
    config = app.config
    config["BACKUP_STORAGE_ENDPOINT"] = _dead_endpoint()
    with app.app_context():
        before = full_state(config)
        job_id = queue_history(config, site_id, owner_id, oldest)
        assert run_history(config, job_id) == "failed"
        assert restorejobs.read_job(config, job_id)["error"] == (
            f"the off-site copy of backup {oldest} could not be fetched; try again later. "
            "The site is as it was."
        )
        assert_untouched(app, before)


def test_an_encrypted_offsite_version_is_decrypted_on_the_server(
    make_app, make, s3_config, tmp_path
):
    key = x25519.Identity.generate()
    identity = tmp_path / "backup-identity.txt"
    identity.write_text(f"# public key: {key.to_public()}\n{key}\n")
    app = make_app(
        BACKUP_KEEP=1,
        BACKUP_AGE_RECIPIENTS=str(key.to_public()),
        BACKUP_AGE_IDENTITY_FILE=str(identity),
        **s3_config,
    )
    with app.app_context():
        night = three_nights(app, make)
        oldest, config = night["ids"][0], app.config
        assert all(copy["encrypted"] for copy in remote_copies(config))
        job_id = queue_history(config, night["site"], night["owner"], oldest)
        assert run_history(config, job_id) == "done", restorejobs.read_job(config, job_id)["error"]
        assert exact_site(config, night["site"]) == night["states"][0]


def test_a_running_backup_holds_the_fetch_back_then_the_job_fails_changing_nothing(season):
    app, site_id, owner_id = season["app"], season["site"], season["owner"]
    oldest = season["ids"][0]
    config = app.config
    config["RESTORE_LOCK_WAIT"] = 0
    with app.app_context():
        before = full_state(config)
        job_id = queue_history(config, site_id, owner_id, oldest)
        with backup_lock(config, "backup"):
            assert run_history(config, job_id) == "failed"
        assert "backup" in restorejobs.read_job(config, job_id)["error"]
        assert_untouched(app, before)
        assert not (backups_dir(config) / f"{oldest}.tar.gz").exists()
        assert run_history(config, queue_history(config, site_id, owner_id, oldest)) == "done"
        assert exact_site(config, site_id) == season["states"][0]
