"""A job of the backups page killed at any step reads what really happened, on every engine.

The worker running a site roll-back is SIGKILLed at each step in turn; then,
in another process, the job reads done with the site exactly as in the backup
(killed after the commit) or failed with the site exactly as it was (before);
killed before it began, it is still queued and the task delivered again runs it.
A backup job killed midway reads failed and leaves no backup behind.
"""

import signal

import pytest
import sqlalchemy as sa

from app.backup import catalog, webjobs
from app.backup.system import create_backup
from app.commitmarks import MARKS
from app.extensions import db
from tests.jobprocess import run_killed
from tests.support.jobs import run_page_job
from tests.support.states import camp_site, edit_site, named_files, other_sites_state
from tests.undokit import exact_site

STEPS = [
    ("job-running", False),
    ("job-marked", False),
    ("job-committed", True),
    ("job-finished", True),
]


@pytest.mark.integration
def test_a_rollback_killed_at_any_step_reads_what_happened(any_app, make):
    app, config = any_app, any_app.config
    site_id, owner_id = camp_site(make)
    backup_id = create_backup(config, db.engine).backup_id
    in_backup = exact_site(config, site_id)
    edit_site(make, site_id, "since")
    others = other_sites_state(config, site_id)

    for step, committed in STEPS:
        before = exact_site(config, site_id)
        job = webjobs.new_job(config, "rollback", owner_id, backup_id=backup_id,
                              subdomain="lakeside")  # fmt: skip
        killed = run_killed(app, "page", job["id"], step)
        assert killed.returncode == -signal.SIGKILL, (step, killed.stderr.decode())
        db.session.remove()
        job = webjobs.read_job(config, job["id"])
        if committed:
            assert (job["state"], job["error"]) == ("done", None), step
            assert exact_site(config, site_id) == in_backup, step
        else:
            assert (job["state"], job["error"]) == ("failed", webjobs.STUCK), step
            assert named_files(exact_site(config, site_id)) == named_files(before), step
        assert webjobs.run_job(config, db.engine, job["id"]) is None  # a redelivery does nothing

    # Killed before it began: still queued, and the task delivered again takes it over.
    edit_site(make, site_id, "again")
    job = webjobs.new_job(config, "rollback", owner_id, backup_id=backup_id, subdomain="lakeside")
    killed = run_killed(app, "page", job["id"], "job-claimed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert webjobs.read_job(config, job["id"])["state"] == "queued"
    assert run_page_job(app, job["id"]) == "done"
    assert exact_site(config, site_id) == in_backup
    assert other_sites_state(config, site_id) == others
    with db.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(MARKS)) == 0


def test_a_backup_job_killed_midway_reads_failed_and_leaves_no_backup(app, make):
    camp_site(make)
    job = webjobs.new_job(app.config, "backup", None)
    killed = run_killed(app, "page", job["id"], "job-running")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    job = webjobs.read_job(app.config, job["id"])
    assert (job["state"], job["error"]) == ("failed", webjobs.STUCK)
    assert catalog.list_backups(app.config) == []
