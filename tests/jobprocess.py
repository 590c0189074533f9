"""Run one job as a worker runs it, in a process of its own: the crash tests kill it midway.

``python -m tests.jobprocess restore|page <job id>``, with the app's settings in
the environment (``tests.processes.clean_env``).
"""

import subprocess
import sys
from pathlib import Path

from tests.processes import clean_env


def main(kind, job_id):
    from app import create_app
    from app.backup import webjobs
    from app.exports.restorerun import run_restore_job
    from app.extensions import db
    from app.tasks.siteimports import restore_guard

    app = create_app()
    with app.app_context():
        config = app.config
        if kind == "restore":
            run_restore_job(config, db.session, job_id, guard=restore_guard(config))
        else:
            webjobs.run_job(config, db.engine, job_id)


def run_killed(app, kind, job_id, step):
    """Run job ``job_id`` in another process of ``app``'s deployment, killed at ``step``."""
    from app.commitmarks import KILL_AT_VARIABLE

    env = clean_env(
        STINKY_DATA_DIR=app.config["STINKY_DATA_DIR"],
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=app.config["SECRET_KEY"],
        BACKUP_KEY=app.config["BACKUP_KEY"],
        **{KILL_AT_VARIABLE: step},
    )
    return subprocess.run(
        [sys.executable, "-m", "tests.jobprocess", kind, job_id],
        cwd=Path(app.config["STINKY_DATA_DIR"]).parent,
        env=env,
        capture_output=True,
        timeout=120,
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
