"""A restore job killed at any step reads what really happened, on every engine.

A worker process running "Restore from an export file" is SIGKILLed at each
step in turn (``app.commitmarks.reached``). Then, in another process: killed
before its transaction committed, the job reads failed, the site is as it was
(every row, and every file a row names) and no undo is offered; killed after,
the job reads done, the site is the restored one, and the undo it offers brings
back exactly the site it replaced. Killed before it began, the job is still
queued, and the redelivered task runs it.
"""

import signal

import pytest
import sqlalchemy as sa

from app.commitmarks import MARKS
from app.exports import restorejobs
from app.exports.export import export_site
from app.extensions import db
from tests.jobprocess import run_killed
from tests.support.archives import export_content
from tests.support.states import camp_site, edit_site, named_files, other_sites_state
from tests.undokit import exact_site, queue_restore, run, undo

# Every step, in order, and whether the restore had committed when killed there.
STEPS = [
    ("restore-running", False),
    ("restore-saved", False),
    ("restore-loaded", False),
    ("restore-committed", True),
    ("restore-finished", True),
]


@pytest.mark.integration
def test_a_restore_job_killed_at_any_step_reads_what_happened(any_app, make, tmp_path):
    app, config = any_app, any_app.config
    site_id, owner_id = camp_site(make)
    saved = export_site(config, site_id, dest=tmp_path / "saved.tar.gz")
    wanted = export_content(saved.path, tmp_path / "wanted")
    edit_site(make, site_id, "since")
    old = exact_site(config, site_id)
    others = other_sites_state(config, site_id)

    for n, (step, committed) in enumerate(STEPS):
        job_id = queue_restore(config, site_id, owner_id, saved.path.read_bytes())
        killed = run_killed(app, "restore", job_id, step)
        assert killed.returncode == -signal.SIGKILL, (step, killed.stderr.decode())
        db.session.remove()
        job = restorejobs.read_job(config, job_id)
        if not committed:
            assert (job["state"], job["undo_export"]) == ("failed", None), step
            assert "the site is as it was" in job["error"]
            assert not restorejobs.undo_available(config, job)
            assert named_files(exact_site(config, site_id)) == named_files(old), step
            continue
        assert job["state"] == "done", step
        assert job["summary"]["counts"]["pages"] == 3
        assert restorejobs.undo_available(config, job), step
        now = export_site(config, site_id, dest=tmp_path / f"now-{n}.tar.gz")
        assert export_content(now.path, tmp_path / f"now-{n}") == wanted
        undo_id = undo(config, job_id, site_id, owner_id)
        assert run(config, undo_id) == "done", restorejobs.read_job(config, undo_id)["error"]
        assert exact_site(config, site_id) == old, step  # stray files of earlier kills gone too

    assert other_sites_state(config, site_id) == others
    with db.engine.connect() as conn:  # every job's commit mark was dropped once it was read
        assert conn.scalar(sa.select(sa.func.count()).select_from(MARKS)) == 0


@pytest.mark.integration
def test_a_restore_job_killed_before_it_began_runs_when_redelivered(any_app, make, tmp_path):
    app, config = any_app, any_app.config
    site_id, owner_id = camp_site(make)
    saved = export_site(config, site_id, dest=tmp_path / "saved.tar.gz")
    edit_site(make, site_id, "since")
    old = exact_site(config, site_id)
    job_id = queue_restore(config, site_id, owner_id, saved.path.read_bytes())

    killed = run_killed(app, "restore", job_id, "restore-claimed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert restorejobs.read_job(config, job_id)["state"] == "queued"
    assert exact_site(config, site_id) == old
    assert run(config, job_id) == "done"  # the task, delivered again, takes the job over
    assert run(config, job_id) is None
    assert run(config, undo(config, job_id, site_id, owner_id)) == "done"
    assert exact_site(config, site_id) == old
