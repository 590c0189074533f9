"""Uploads to "Restore from an export file" are bounded, whatever an owner sends and how often.

A state machine sends hostile sequences of uploads (good exports, ours with
its tag, forged tags, tampered members, truncated files, junk, empty ones,
honest and lying lengths) to several sites, confirms some, fills the disk
(through ``app.archive.space.free_space``, the space hook), grows the backups'
reserve, holds a site's upload slot and moves the clock. After every step:
each site has at most ``SITE_IMPORT_MAX_PENDING`` unconfirmed uploads, each
at most ``SITE_IMPORT_MAX_BYTES``, every kept one is a whole, checked export,
an accepted upload never ate into the reserve, nothing half-written stays, and
every refusal left every file as it was.
"""

import datetime as dt
import functools
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.archive import CHECKSUMS_NAME, TAG_NAME, read_manifest, space, verify_archive
from app.exports import restorejobs, uploads
from app.exports.export import export_site
from app.extensions import db
from app.models.types import parse_utc
from tests import craft
from tests.backupkit import FakeClock, unpack
from tests.sitekit import build_camp
from tests.support.archives import SITE_EXPORT_V1
from tests.support.web import login, upload_export

PENDING = 2
# Whole exports more often than the rest, so that sites fill up and the oldest give way.
KINDS = ["good", "good", "ours", "ours", "forged", "tampered", "truncated", "junk"]


def _tampered(tmp_path):
    """The golden export with one member changed after its checksums were taken."""
    manifest, files = unpack(SITE_EXPORT_V1, tmp_path / "golden")
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    listed = craft.manifest_for([(p, len(d)) for p, d in files], manifest["format"], **fields)
    sums = craft.sums_for([("manifest.json", listed), *files])
    tampered = [(p, d.replace(b"Golden", b"Evil!!")) for p, d in files]
    path = craft.build(
        tmp_path / "tampered.tar.gz", [("manifest.json", listed), *tampered, ("SHA256SUMS", sums)]
    )
    return Path(path).read_bytes()


def _forged(ours):
    """Our export with another tag: it claims our key, every checksum holds, the tag does not."""
    with tarfile.open(fileobj=io.BytesIO(ours)) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    assert [name for name, _ in members][-2:] == [TAG_NAME, CHECKSUMS_NAME]
    tag = b"0" * 64 + b"\n"
    sums = [line for line in members[-1][1].decode().splitlines() if not line.endswith(TAG_NAME)]
    sums.append(f"{hashlib.sha256(tag).hexdigest()}  {TAG_NAME}")
    entries = [*members[:-2], (TAG_NAME, tag), (CHECKSUMS_NAME, ("\n".join(sums) + "\n").encode())]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _unpacked(data, tmp_path):
    (tmp_path / "probe.tar.gz").write_bytes(data)
    return sum(f["size"] for f in read_manifest(tmp_path / "probe.tar.gz")["files"])


@pytest.fixture
def upload_world(make_app, make, tmp_path, monkeypatch):
    """An app with three sites, the archives to send, and a disk whose size the test sets."""
    app = make_app(SITE_IMPORT_MAX_PENDING=PENDING)
    with app.app_context():
        sites = [build_camp(make, name, files=1).id for name in ("lakeside", "pinecrest", "birch")]
        ours = export_site(app.config, sites[0], session=db.session).path.read_bytes()
        db.session.remove()
        archives = {
            "good": SITE_EXPORT_V1.read_bytes(),
            "ours": ours,
            "forged": _forged(ours),
            "tampered": _tampered(tmp_path),
        }
        unpacked = {kind: _unpacked(data, tmp_path) for kind, data in archives.items()}
        (tmp_path / "forged.tar.gz").write_bytes(archives["forged"])
        verify_archive(tmp_path / "forged.tar.gz")  # intact but for its tag
        disk = {"capacity": 10**9}
        root = restorejobs.imports_dir(app.config)

        def free(_path):
            used = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
            return disk["capacity"] - used

        monkeypatch.setattr(space, "free_space", free)
        yield app, sites, archives, unpacked, disk


def files_kept(root):
    """Return {path: bytes} of every file of every job (the sites' empty lock files aside)."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not (p.parent == root and p.name.startswith(".upload-"))
    }


def test_uploads_stay_bounded_and_refusals_change_nothing(upload_world):
    app, sites, archives, unpacked, disk = upload_world
    config = app.config
    root = restorejobs.imports_dir(config)
    backups = Path(config["STINKY_DATA_DIR"], "backups", "system")

    class Uploads(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            for path in list(root.glob("*")) if root.is_dir() else []:
                if path.is_dir():
                    shutil.rmtree(path)
            for path in backups.glob("*") if backups.is_dir() else []:
                path.unlink()
            disk["capacity"] = 10**9
            self.clock = FakeClock()
            self.pending = {site: [] for site in sites}  # site -> [(job id, created)], oldest first
            self.most = None

        @initialize(most=st.sampled_from([200_000, 40_000, 12_000, 4096]))
        def set_limit(self, most):
            self.most = config["SITE_IMPORT_MAX_BYTES"] = most

        def free(self):
            return space.free_space(root)

        def reserve(self):
            sizes = [p.stat().st_size for p in backups.glob("stinkykitty-*.tar.gz")]
            return max(sizes, default=0)

        @rule(
            site=st.sampled_from([sites[0], *sites]),  # the first more often: it fills up
            kind=st.sampled_from(KINDS),
            cut=st.integers(0, 30_000),
            declared=st.sampled_from(["honest", "honest", "unknown", "less", "more", "huge"]),
        )
        def upload(self, site, kind, cut, declared):
            if kind == "truncated":
                data = archives["good"][: cut % len(archives["good"])]
            elif kind == "junk":
                data = bytes((n * 7 + cut) % 256 for n in range(cut))
            else:
                data = archives[kind]
            length = {
                "honest": len(data),
                "unknown": None,
                "less": len(data) // 2,
                "more": len(data) + 1000,
                "huge": 10**12,
            }[declared]
            room = self.free() - self.reserve() - uploads.SLACK
            valid = kind in ("good", "ours") and unpacked[kind] <= self.most
            if length is not None and length > self.most:
                expected = uploads.UploadTooLarge
            elif (length or 0) > room:
                expected = uploads.NoRoomForUpload
            elif not data:
                expected = uploads.UploadRefused
            elif len(data) > self.most:
                expected = uploads.UploadTooLarge
            elif len(data) > room:
                expected = uploads.NoRoomForUpload
            else:
                expected = None if valid else uploads.UploadRefused
            event(f"upload {kind}: {expected.__name__ if expected else 'kept'}")
            before = files_kept(root)
            job = refused = None
            try:
                job = restorejobs.receive_upload(
                    config, site, "lakeside", 1, io.BytesIO(data), length=length, clock=self.clock
                )
            except uploads.UploadRefused as exc:
                refused = exc
            if refused is not None:
                assert type(refused) is expected, (refused, expected)
                assert "\n" not in str(refused)
                assert files_kept(root) == before  # a refusal changes nothing
                return
            assert expected is None, expected
            assert self.free() >= self.reserve()  # the reserve is left to the backups
            assert job["state"] == "uploaded"
            assert job["preview"]["counts"]
            self.pending[site].append((job["id"], parse_utc(job["created_at"])))
            self.pending[site] = self.pending[site][-PENDING:]  # the oldest give way
            self.expire()

        @rule(kind=st.sampled_from(["good", "ours"]))
        def upload_again(self, kind):
            """The same site, again and again: more than it may keep."""
            self.upload(sites[0], kind, 0, "honest")

        def expire(self):
            cutoff = self.clock() - dt.timedelta(seconds=uploads.PENDING_TTL)
            for site, jobs in self.pending.items():
                self.pending[site] = [(j, created) for j, created in jobs if created >= cutoff]

        @rule(data=st.data())
        @precondition(lambda self: any(self.pending.values()))
        def confirm(self, data):
            site = data.draw(st.sampled_from([s for s, jobs in self.pending.items() if jobs]))
            job_id, _ = data.draw(st.sampled_from(self.pending[site]))
            restorejobs.confirm_job(config, job_id, allow_other_site=True)
            self.pending[site] = [p for p in self.pending[site] if p[0] != job_id]

        @rule(site=st.sampled_from(sites), other=st.sampled_from(sites))
        def upload_while_one_is_received(self, site, other):
            before = files_kept(root)
            with uploads.receiving(root, site):
                if other != site:
                    return  # another site's slot is its own (its upload is the rule above)
                with pytest.raises(uploads.UploadBusy, match="being received"):
                    restorejobs.receive_upload(
                        config, site, "x", 1, io.BytesIO(archives["good"]), clock=self.clock
                    )
            assert files_kept(root) == before

        @rule(size=st.integers(0, 300_000))
        def a_backup_is_made(self, size):
            backups.mkdir(parents=True, exist_ok=True)
            name = f"stinkykitty-2026-01-01-{len(list(backups.iterdir())):06d}.tar.gz"
            with open(backups / name, "wb") as out:
                out.truncate(size)  # sparse: only its size counts

        @rule(extra=st.integers(0, 500_000))
        def the_disk_fills(self, extra):
            disk["capacity"] -= self.free() - extra  # `extra` bytes free from now on

        @rule(delta=st.integers(-20_000, 20_000))
        def the_disk_fills_up_to_the_reserve(self, delta):
            """Leave about an upload's size free above the reserve: the edge of every check."""
            disk["capacity"] -= self.free() - (self.reserve() + uploads.SLACK + delta)

        @rule(seconds=st.integers(0, 2 * uploads.PENDING_TTL))
        def time_passes_and_the_sweep_runs(self, seconds):
            self.clock.advance(seconds=seconds)
            jobs = functools.partial(restorejobs.read_job, config)
            uploads.expire_uploads(root, jobs, clock=self.clock)
            self.expire()

        @invariant()
        def bounded(self):
            if not root.is_dir():
                return
            waiting = {site: set() for site in sites}
            for folder in root.iterdir():
                if folder.name.startswith("."):
                    continue
                job = restorejobs.read_job(config, folder.name)
                assert job is not None, f"{folder.name} has no record"  # nothing half-written
                upload = folder / restorejobs.UPLOAD
                if job["state"] == "uploaded" and not (folder / "confirmed").exists():
                    waiting[job["site_id"]].add(job["id"])
                    assert upload.stat().st_size <= self.most
                    verify_archive(upload)  # kept only whole and checked
            assert all(len(ids) <= PENDING for ids in waiting.values())
            assert waiting == {site: {j for j, _ in jobs} for site, jobs in self.pending.items()}

    run_state_machine_as_test(
        Uploads,
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


def test_the_page_answers_each_refusal_with_its_status(make_app, make, tmp_path, monkeypatch):

    app = make_app(SITE_IMPORT_MAX_PENDING=2)
    with app.app_context():
        owner = make.user()
        site = make.site(owner=owner)
        client, csrf = login(app, owner)
        tampered = upload_export(client, csrf, site.id, _tampered(tmp_path))
        assert tampered.status_code == 400
        assert "cannot be restored" in tampered.get_json()["error"]
        assert "checksum" in tampered.get_json()["error"]
        first, second, third = (
            upload_export(client, csrf, site.id, SITE_EXPORT_V1.read_bytes()) for _ in "123"
        )
        assert {first.status_code, second.status_code, third.status_code} == {201}
        status = f"/admin/sites/{site.id}/restore/{first.get_json()['job_id']}"
        assert client.get(status).status_code == 404  # the oldest gave way to the third
        assert client.get(status.replace(first.get_json()["job_id"], third.get_json()["job_id"]))
        confirm = client.post(f"{status}/confirm", json={}, headers={"X-CSRFToken": csrf})
        assert confirm.status_code == 404
        with uploads.receiving(restorejobs.imports_dir(app.config), site.id):
            busy = upload_export(client, csrf, site.id, SITE_EXPORT_V1.read_bytes())
        assert busy.status_code == 409
        assert "being received" in busy.get_json()["error"]
        monkeypatch.setattr(space, "free_space", lambda _path: 10_000)
        full = upload_export(client, csrf, site.id, SITE_EXPORT_V1.read_bytes())
        assert full.status_code == 507
        assert full.get_json()["error"] == uploads.NO_ROOM


def test_an_import_leaves_the_backups_reserve_free(app, make, monkeypatch):
    from app.archive.errors import NotEnoughSpace
    from app.exports.siteimport import import_site
    from tests.backupkit import full_state

    owner = make.user(email="owner@example.org").email
    backups = Path(app.config["STINKY_DATA_DIR"], "backups", "system")
    backups.mkdir(parents=True)
    with open(backups / "stinkykitty-2026-01-01-000000.tar.gz", "wb") as out:
        out.truncate(5_000_000)  # the next backup needs about as much
    unpacked = sum(f["size"] for f in read_manifest(SITE_EXPORT_V1)["files"])
    monkeypatch.setattr(space, "free_space", lambda _path: unpacked + 5_000_000 - 1)
    before = full_state(app.config)
    with pytest.raises(NotEnoughSpace, match="keeping room for the next backup"):
        import_site(app.config, db.engine, SITE_EXPORT_V1, subdomain="fresh", owner_email=owner)
    assert full_state(app.config) == before
    monkeypatch.setattr(space, "free_space", lambda _path: unpacked + 5_000_000)
    summary = import_site(
        app.config, db.engine, SITE_EXPORT_V1, subdomain="fresh", owner_email=owner
    )
    assert summary.subdomain == "fresh"


def test_what_a_killed_upload_left_goes_once_it_is_as_old_as_an_unconfirmed_one(app):
    root = restorejobs.imports_dir(app.config)
    cut_short, receiving = root / "0123456789abcdef", root / "fedcba9876543210"
    for folder in (cut_short, receiving):
        folder.mkdir(parents=True)
        (folder / restorejobs.UPLOAD).write_bytes(b"the first part of an export")
    old = dt.datetime.now(dt.UTC).timestamp() - uploads.PENDING_TTL - 60
    for path in (cut_short / restorejobs.UPLOAD, cut_short):
        os.utime(path, (old, old))
    jobs = functools.partial(restorejobs.read_job, app.config)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert uploads.expire_uploads(root, jobs, clock=lambda: now) == [cut_short.name]
    assert [p.name for p in root.iterdir()] == [receiving.name]  # still being written: kept
