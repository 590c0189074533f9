"""StinkyKitty: the application factory."""

import os
import secrets

from flask import Flask

from app.config import Config, data_path
from app.extensions import csrf, db, login_manager, migrate

__version__ = "0.1.0"


def create_app(config=None):
    """Create and configure a StinkyKitty app; ``config`` defaults to ``Config()``."""
    app = Flask(__name__)
    app.config.from_object(config or Config())
    prepare_data_dir(app)
    register_extensions(app)
    register_blueprints(app)
    register_maintenance(app)
    register_commands(app)
    celery_init_app(app)
    return app


def prepare_data_dir(app):
    """Create the data dir and, unless one is configured, load or make the secret key."""
    data_path(app.config, "uploads").mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _persistent_secret(data_path(app.config, "secret_key"))


def _persistent_secret(path):
    """Return the key kept in ``path``, writing a new random one on first use."""
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # first writer wins when several processes start at once
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def register_extensions(app):
    """Bind the database, migrations, login manager and CSRF protection."""
    from app import models  # noqa: F401  (register the tables on the metadata)
    from app.database import configure_engine_events

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        configure_engine_events(db.engine)


def register_blueprints(app):
    """Attach the auth and admin blueprints."""
    from app.blueprints.admin import bp as admin_bp
    from app.blueprints.admin import register_root
    from app.blueprints.auth import bp as auth_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    from app.blueprints.exports import bp as exports_bp

    app.register_blueprint(exports_bp)
    from app.blueprints.siteimport import bp as siteimport_bp

    app.register_blueprint(siteimport_bp)
    from app.blueprints.backups import bp as backups_bp

    app.register_blueprint(backups_bp)
    register_health(app)
    register_root(app)


def register_maintenance(app):
    """Answer 503 while a restore runs."""
    from app.blueprints.maintenance import register_maintenance as register

    register(app)


def register_health(app):
    """Serve ``/healthz`` and the backup banner of the admin dashboard."""
    from app.blueprints.health import bp as health_bp

    app.register_blueprint(health_bp)


def register_commands(app):
    """Attach the ``flask user|site|demo|backup`` command groups."""
    import cli

    cli.register(app)


def celery_init_app(app):
    """Create the Celery app bound to ``app`` (tasks run inside its app context)."""
    from celery import Celery, Task

    import celeryconfig

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celeryconfig.build(app.config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    # Not "import app.tasks": that would rebind the name `app` used by FlaskTask.
    from app import tasks  # noqa: F401  (register the tasks on this Celery app)

    return celery_app
