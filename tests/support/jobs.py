"""Jobs run as their tasks run them: a backups-page job, an export watched to its end."""

from app.backup import webjobs
from app.extensions import db
from tests.support.waiting import wait_for
from tests.support.web import post_export


def run_page_job(app, job_id):
    """Run a job of the backups page as the worker's task would; return its final state."""
    db.session.remove()
    state = webjobs.run_job(app.config, db.engine, job_id)
    db.session.remove()
    return state


def export_to_the_end(client, csrf, site_id, worker):
    """Click "Download my site", wait for the job to be ready; return its status."""
    started = post_export(client, csrf, site_id)
    assert started.status_code == 202
    status_url = started.get_json()["status_url"]
    status = wait_for(
        lambda: (s := client.get(status_url).get_json())["state"] in ("ready", "failed") and s,
        interval=0.1,
        what="the export to finish",
    )
    assert status["state"] == "ready", (status, worker.output())
    return status
