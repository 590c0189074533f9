"""Click to download link: POST /admin/export, then poll until the link is offered.

A real Celery worker on Redis does the export, so queue pickup is included.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLL = 0.05  # the bench polls fast to time the pipeline; the page polls about once a second


def _start_worker(env):
    log = open(Path(env["STINKY_DATA_DIR"]) / "bench-worker.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "ready" in Path(log.name).read_text():
            return proc, log
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: {Path(log.name).read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError("worker did not become ready in 60 s")


def click_to_link(data_dir, redis_url, runs):
    """Return the seconds from the export request to a ready download link, per run."""
    env = {
        "STINKY_DATA_DIR": str(data_dir),
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
    }
    os.environ.update(env)
    from app import create_app
    from app.config import Config
    from app.extensions import db
    from app.models import ExportJob, Site

    app = create_app(Config(WTF_CSRF_ENABLED=False))
    proc, log = _start_worker(env)
    times = []
    try:
        with app.app_context():
            site = db.session.get(Site, 1)
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = str(site.owner_id)
                session["_fresh"] = True
            for _ in range(runs):
                start = time.perf_counter()
                answer = client.post(
                    "/admin/export",
                    data={"site_id": site.id},
                    headers={"Accept": "application/json"},
                )
                status_url = answer.get_json()["status_url"]
                while True:
                    state = client.get(status_url).get_json()
                    if state.get("download_url"):
                        break
                    if state["state"] == "failed":
                        raise RuntimeError(f"export failed: {state.get('error')}")
                    time.sleep(POLL)
                times.append(time.perf_counter() - start)
                job = db.session.get(ExportJob, answer.get_json()["job_id"])
                if job and job.filename:
                    (Path(data_dir) / "backups" / "site-exports" / job.filename).unlink(
                        missing_ok=True
                    )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
    return times
