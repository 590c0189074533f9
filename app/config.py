"""Application settings, read once from the environment (and a `.env` file)."""

import os
import secrets
from pathlib import Path

from dotenv import dotenv_values

TRUE_WORDS = {"1", "true", "yes", "on"}


class Config:
    """Typed settings for one app instance.

    Build one per app (tests pass their own ``environ`` and overrides); never
    mutate a shared instance. Attribute names are the Flask config keys.
    """

    def __init__(self, environ=None, **overrides):
        if environ is None:
            environ = {**dotenv_values(".env"), **os.environ}
        env = {k: v for k, v in environ.items() if v not in (None, "")}
        data_dir = Path(env.get("STINKY_DATA_DIR", "instance")).resolve()

        self.STINKY_DATA_DIR = str(data_dir)
        self.SQLALCHEMY_DATABASE_URI = env.get(
            "DATABASE_URL", f"sqlite:///{data_dir / 'stinkykitty.db'}"
        )
        # Embedded defaults need no server: kombu's SQLAlchemy transport and
        # Celery's database result backend, both on SQLite files in the data dir.
        self.CELERY_BROKER_URL = env.get(
            "CELERY_BROKER_URL", f"sqla+sqlite:///{data_dir / 'celery-broker.sqlite'}"
        )
        self.CELERY_RESULT_BACKEND = env.get(
            "CELERY_RESULT_BACKEND", f"db+sqlite:///{data_dir / 'celery-results.sqlite'}"
        )
        # None means "generate once and keep in the data dir" (see create_app).
        self.SECRET_KEY = env.get("SECRET_KEY")
        # Authenticates every archive; None means "generate once and keep in the data dir".
        self.BACKUP_KEY = env.get("BACKUP_KEY")
        self.BACKUP_KEEP = int(env.get("BACKUP_KEEP", 10))
        self.BACKUP_SCHEDULE = env.get("BACKUP_SCHEDULE", "0 2 * * *")
        self.BACKUP_TIMEZONE = env.get("BACKUP_TIMEZONE", "UTC")
        # Testing only: run the scheduled backup every N seconds instead of BACKUP_SCHEDULE.
        self.BACKUP_INTERVAL_SECONDS = float(env.get("BACKUP_INTERVAL_SECONDS", 0)) or None
        self.BACKUP_MAX_AGE = int(env.get("BACKUP_MAX_AGE", 26 * 3600))
        self.BACKUP_SKIP_UNCHANGED = env.get("BACKUP_SKIP_UNCHANGED", "1").lower() in TRUE_WORDS
        # Re-verification of kept backups: a crontab (None: daily, 90 min after the
        # backup) and how many seconds one run may spend before leaving the rest to the next.
        self.BACKUP_VERIFY_SCHEDULE = env.get("BACKUP_VERIFY_SCHEDULE")
        self.BACKUP_VERIFY_BUDGET = int(env.get("BACKUP_VERIFY_BUDGET", 3600))
        self.EXPORT_LINK_TTL = int(env.get("EXPORT_LINK_TTL", 3600))
        self.EXPORT_RETENTION = int(env.get("EXPORT_RETENTION", 86400))
        # A queued or running export older than this is taken as dead (worker killed).
        self.EXPORT_STUCK_AFTER = int(env.get("EXPORT_STUCK_AFTER", 3600))
        self.EXPORT_SWEEP_INTERVAL = int(env.get("EXPORT_SWEEP_INTERVAL", 900))

        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.MAX_CONTENT_LENGTH = 64 * 1024 * 1024

        for key, value in overrides.items():
            setattr(self, key, value)


def data_path(config, *parts):
    """Return a path inside the data dir of ``config`` (a Flask config mapping)."""
    return Path(config["STINKY_DATA_DIR"], *parts)


def persistent_secret(path):
    """Return the key kept in ``path``, writing a new random one on first use."""
    path = Path(path)
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


BACKUP_KEY_FILE = "backup_key"


def archive_key(config):
    """Return the key (bytes) that authenticates archives: BACKUP_KEY, else the data dir's."""
    key = config.get("BACKUP_KEY")
    if not key:
        key = persistent_secret(data_path(config, BACKUP_KEY_FILE))
    return key.encode("utf-8")
