"""A ``flask`` command starts without the libraries it does not need.

Celery, Flask-Migrate (with Alembic) and Pillow take most of a second to
import; ``create_app`` binds Celery and Flask-Migrate on first use instead
(``get_celery``, ``init_migrations``). A module-level import of one of them
anywhere under the app would bring that second back to every command, so
these tests look at what a fresh process has imported.
"""

import json
import subprocess
import sys
from pathlib import Path

from app import get_celery

ROOT = Path(__file__).resolve().parents[1]
LAZY = ("alembic", "celery", "kombu", "flask_migrate", "PIL", "apprise", "prometheus_client")

# Make the app as `flask --app app ...` does, then list which LAZY packages got imported.
CREATE_APP = """
import json, sys
from app import create_app
from app.config import Config
create_app(Config(environ={"STINKY_DATA_DIR": sys.argv[1]}))
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))))
"""


def imported_after_create_app(data_dir):
    """Return which of LAZY a fresh process holds after ``create_app()``."""
    done = subprocess.run(
        [sys.executable, "-c", CREATE_APP, str(data_dir), *LAZY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_create_app_imports_no_celery_alembic_or_pillow(tmp_path):
    assert imported_after_create_app(tmp_path) == []


def test_celery_is_bound_on_first_use_with_every_task(app):
    assert "celery" not in app.extensions
    celery_app = get_celery(app)
    assert get_celery(app) is celery_app
    assert celery_app.conf.broker_url == app.config["CELERY_BROKER_URL"]
    names = {name for name in celery_app.tasks if name.startswith("stinkykitty.")}
    assert {"stinkykitty.system_backup", "stinkykitty.export_site", "stinkykitty.ping"} <= names


def test_flask_db_still_runs_flask_migrate(runner):
    result = runner.invoke(args=["db", "current"])
    assert result.exit_code == 0, result.output
    assert "Context impl SQLiteImpl" in result.output  # Alembic ran env.py on our database
