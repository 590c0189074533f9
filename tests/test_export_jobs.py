"""The job flow of site exports: one job per site at a time, idempotent runs, the sweep."""

import hashlib
import os
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from app import get_celery
from app.backup.errors import BackupError, NotEnoughSpace
from app.exports import jobs as jobs_module
from app.exports.export import ExportFailed, exports_dir
from app.exports.jobs import (
    STUCK_MESSAGE,
    claim_job,
    request_export_job,
    run_export_job,
    sweep_exports,
)
from app.extensions import db
from app.models import ExportJob, utcnow


def _job(site, user, **fields):
    job = ExportJob(site_id=site.id, user_id=user.id, **fields)
    db.session.add(job)
    db.session.commit()
    return job


def _reload(job_id):
    db.session.commit()
    return db.session.get(ExportJob, job_id)


def _at(seconds):
    """Return a clock that reads ``seconds`` from now."""
    moment = utcnow() + timedelta(seconds=seconds)
    return lambda: moment


def test_concurrent_requests_for_one_site_give_one_job(any_app, make):
    site = make.site()
    user_id, site_id = site.owner_id, site.id
    start = threading.Barrier(6)
    job_ids, errors = [], []

    def click():
        try:
            with any_app.app_context():
                start.wait()
                job, _created = request_export_job(db.session, site_id, user_id, stuck_after=3600)
                job_ids.append(job.id)
        except Exception as exc:  # reported below with the engine's message
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(job_ids) == 6
    assert len(set(job_ids)) == 1
    db.session.commit()
    assert db.session.query(ExportJob).count() == 1


def test_a_finished_job_does_not_block_a_new_request(app, make):
    site = make.site()
    site_changed_at = site.updated_at
    first, created = request_export_job(db.session, site.id, site.owner_id, stuck_after=3600)
    assert created
    assert run_export_job(app.config, db.session, first.id) == "ready"
    second, created = request_export_job(db.session, site.id, site.owner_id, stuck_after=3600)
    assert created
    assert second.id != first.id
    db.session.expire_all()
    assert site.updated_at == site_changed_at  # locking the site's row does not touch it


def test_a_job_delivered_twice_runs_once(app, make):
    site = make.site()
    make.media(site, content=b"x" * 100)
    job = _job(site, site.owner)
    calls = []

    def counting_export(*args, **kwargs):
        from app.exports.export import export_site

        calls.append(args)
        return export_site(*args, **kwargs)

    assert run_export_job(app.config, db.session, job.id, export=counting_export) == "ready"
    assert run_export_job(app.config, db.session, job.id, export=counting_export) is None
    assert len(calls) == 1
    assert _reload(job.id).state == "ready"


def test_a_job_running_elsewhere_is_not_redone(app, make):
    site = make.site()
    job = _job(site, site.owner)
    assert claim_job(db.session, job.id)  # another worker took it
    assert run_export_job(app.config, db.session, job.id) is None
    assert _reload(job.id).state == "running"
    assert not list(exports_dir(app.config).glob("*.tar.gz"))


def test_ready_job_records_file_size_checksum_and_progress(app, make):
    site = make.site()
    for n in range(3):
        make.media(site, content=bytes([n]) * 5000, name=f"{n}.png")
    job = _job(site, site.owner)
    assert run_export_job(app.config, db.session, job.id) == "ready"
    job = _reload(job.id)
    path = exports_dir(app.config) / job.filename
    assert job.size == path.stat().st_size
    assert job.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # 5 data files, 3 media files and the static copy of a site without pages
    # (site/index.html, site/404.html, site/style.css).
    assert job.progress_total == 11
    assert job.progress_done == job.progress_total
    assert job.started_at <= job.finished_at
    assert job.error is None


def test_progress_is_written_while_the_export_runs(app, make, monkeypatch):
    site = make.site()
    job = _job(site, site.owner)
    seen = []
    ticks = [1000.0]  # the throttle's monotonic clock, moved by the fake export below
    monkeypatch.setattr(jobs_module, "time", SimpleNamespace(monotonic=lambda: ticks[0]))

    def slow_export(config, site_id, *, progress, **kwargs):
        for done in range(1, 4):
            progress(done, 3)
            with db.engine.connect() as conn:  # what the status URL would read meanwhile
                row = conn.execute(ExportJob.__table__.select().where(ExportJob.id == job.id)).one()
            seen.append((row.state, row.progress_done, row.progress_total))
            ticks[0] += 0.3  # longer than the throttle, so every step is written
        raise OSError(28, "No space left on device")

    assert run_export_job(app.config, db.session, job.id, export=slow_export) == "failed"
    assert seen == [("running", 1, 3), ("running", 2, 3), ("running", 3, 3)]
    failed = _reload(job.id)
    assert (
        failed.error
        == "The server could not write the export (No space left on device). Try again later."
    )


def test_sweep_fails_stuck_jobs_so_they_never_block(app, make):
    site = make.site()
    queued = _job(site, site.owner)
    running = _job(site, site.owner)
    assert claim_job(db.session, running.id)
    fresh_site = make.site()
    fresh = _job(fresh_site, fresh_site.owner)

    # A request while the stuck job is still young answers with it...
    job, created = request_export_job(db.session, site.id, site.owner_id, stuck_after=3600)
    assert not created
    assert job.id in (queued.id, running.id)
    # ...and once it is old, the sweep fails it (and a request would too).
    later = _at(app.config["EXPORT_STUCK_AFTER"] + 60)
    fresh.created_at = later() - timedelta(seconds=10)
    db.session.commit()
    report = sweep_exports(app.config, db.session, clock=later)
    assert sorted(report.stuck_jobs) == sorted([queued.id, running.id])
    for job_id in (queued.id, running.id):
        assert (_reload(job_id).state, _reload(job_id).error) == ("failed", STUCK_MESSAGE)
    assert _reload(fresh.id).state == "queued"
    job, created = request_export_job(db.session, site.id, site.owner_id, stuck_after=3600)
    assert created
    assert job.id not in (queued.id, running.id)


def test_request_fails_a_stuck_job_itself_without_waiting_for_the_sweep(app, make):
    site = make.site()
    stuck = _job(site, site.owner, created_at=utcnow() - timedelta(hours=2))
    job, created = request_export_job(db.session, site.id, site.owner_id, stuck_after=3600)
    assert created
    assert job.id != stuck.id
    assert _reload(stuck.id).state == "failed"


def test_a_late_worker_does_not_resurrect_a_job_the_sweep_failed(app, make):
    site = make.site()
    job = _job(site, site.owner)

    def export_while_swept(config, site_id, **kwargs):
        from app.exports.export import export_site

        result = export_site(config, site_id, **kwargs)
        with app.app_context():
            sweep_exports(config, db.session, clock=_at(config["EXPORT_STUCK_AFTER"] + 60))
        return result

    assert run_export_job(app.config, db.session, job.id, export=export_while_swept) is None
    assert _reload(job.id).state == "failed"
    assert not list(exports_dir(app.config).glob("*.tar.gz"))


def test_sweep_deletes_expired_exports_and_old_temporaries_only(app, make):
    site = make.site()
    old_job, new_job = _job(site, site.owner), _job(site, site.owner)
    assert run_export_job(app.config, db.session, old_job.id) == "ready"
    old_job = _reload(old_job.id)
    old_job.finished_at = utcnow() - timedelta(seconds=app.config["EXPORT_RETENTION"] + 60)
    db.session.commit()
    later = utcnow() + timedelta(seconds=1.1)  # distinct file name: they carry the second
    assert run_export_job(app.config, db.session, new_job.id, clock=lambda: later) == "ready"
    new_job = _reload(new_job.id)

    folder = exports_dir(app.config)
    day_ago = time.time() - app.config["EXPORT_RETENTION"] - 60
    old_tmp, young_tmp = folder / ".site-9-x.tar.gz.tmp-dead", folder / ".export-live"
    old_tmp.write_bytes(b"half")
    os.utime(old_tmp, (day_ago, day_ago))
    young_tmp.mkdir()
    orphan = folder / "site-9-2020-01-01-000000.tar.gz"  # e.g. from `flask site export`
    orphan.write_bytes(b"old")
    os.utime(orphan, (day_ago, day_ago))
    old_file = old_job.filename

    report = sweep_exports(app.config, db.session)
    assert sorted(report.expired_files) == sorted([old_file, orphan.name])
    assert report.temporaries == [old_tmp.name]
    assert sorted(p.name for p in folder.iterdir()) == sorted([new_job.filename, young_tmp.name])
    assert _reload(old_job.id).filename is None
    assert _reload(old_job.id).state == "ready"
    assert _reload(new_job.id).filename == new_job.filename


@pytest.mark.parametrize("state", ["ready", "failed"])
def test_sweep_leaves_finished_jobs_states_alone(app, make, state):
    site = make.site()
    job = _job(site, site.owner, state=state, created_at=utcnow() - timedelta(days=3))
    sweep_exports(app.config, db.session)
    assert _reload(job.id).state == state


def test_beat_runs_the_sweep_every_interval(app):
    import celeryconfig

    entry = celeryconfig.beat_schedule(app.config)["sweep-site-exports"]
    assert entry["task"] == "stinkykitty.sweep_site_exports"
    assert entry["schedule"] == timedelta(seconds=app.config["EXPORT_SWEEP_INTERVAL"])
    assert entry["task"] in get_celery(app).tasks


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            NotEnoughSpace("disk full while writing x.tar.gz in /srv/data/backups/site-exports"),
            "The server ran out of disk space while writing the export. Try again later.",
        ),
        (
            OSError(13, "Permission denied", "/srv/data/backups/site-exports"),
            "The server could not write the export (Permission denied). Try again later.",
        ),
        (
            BackupError("/srv/data/uploads/1/ab.jpg shrank while being archived"),
            "The export failed on an unexpected error. Try again; if it fails again, tell us.",
        ),
        (
            ExportFailed("A media file of the site (ab.jpg) was deleted while it was exported."),
            "A media file of the site (ab.jpg) was deleted while it was exported.",
        ),
    ],
)
def test_failed_job_records_a_message_without_server_paths(app, make, error, shown):
    site = make.site()
    job = _job(site, site.owner)

    def failing_export(*args, **kwargs):
        raise error

    assert run_export_job(app.config, db.session, job.id, export=failing_export) == "failed"
    failed = _reload(job.id)
    assert failed.error == shown
    assert failed.finished_at is not None
