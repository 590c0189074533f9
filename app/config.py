"""Application settings, read once from the environment (and a `.env` file)."""

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from app.broker import default_broker_url, default_result_backend

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
        # Embedded defaults need no server (see app.broker).
        self.CELERY_BROKER_URL = env.get("CELERY_BROKER_URL", default_broker_url(data_dir))
        self.CELERY_RESULT_BACKEND = env.get(
            "CELERY_RESULT_BACKEND", default_result_backend(data_dir)
        )
        # None means "generate once and keep in the data dir" (see create_app).
        self.SECRET_KEY = env.get("SECRET_KEY")
        # Authenticates every archive; None means "generate once and keep in the data dir".
        self.BACKUP_KEY = env.get("BACKUP_KEY")
        self.BACKUP_KEEP = int(env.get("BACKUP_KEEP", 10))
        # Tiers (docs/backups.md): also the newest backup of each of the N most recent days,
        # ISO weeks, months, years in BACKUP_TIMEZONE (0: off), as borg prune keeps them.
        self.BACKUP_KEEP_DAILY = count_of(env, "BACKUP_KEEP_DAILY")
        self.BACKUP_KEEP_WEEKLY = count_of(env, "BACKUP_KEEP_WEEKLY")
        self.BACKUP_KEEP_MONTHLY = count_of(env, "BACKUP_KEEP_MONTHLY")
        self.BACKUP_KEEP_YEARLY = count_of(env, "BACKUP_KEEP_YEARLY")
        self.BACKUP_SCHEDULE = env.get("BACKUP_SCHEDULE", "0 2 * * *")
        self.BACKUP_TIMEZONE = zone_of(env, "BACKUP_TIMEZONE")
        self.BACKUP_MAX_AGE = int(env.get("BACKUP_MAX_AGE", 26 * 3600))
        self.BACKUP_SKIP_UNCHANGED = env.get("BACKUP_SKIP_UNCHANGED", "1").lower() in TRUE_WORDS
        # Re-verification of kept backups: a crontab (None: daily, 90 min after the
        # backup) and how many seconds one run may spend before leaving the rest to the next.
        self.BACKUP_VERIFY_SCHEDULE = env.get("BACKUP_VERIFY_SCHEDULE")
        self.BACKUP_VERIFY_BUDGET = int(env.get("BACKUP_VERIFY_BUDGET", 3600))
        self.EXPORT_LINK_TTL = int(env.get("EXPORT_LINK_TTL", 3600))
        # The backups page: a download link's lifetime, and how long a password confirmation lasts.
        self.BACKUP_LINK_TTL = int(env.get("BACKUP_LINK_TTL", 300))
        self.BACKUP_SUDO_TTL = int(env.get("BACKUP_SUDO_TTL", 300))
        self.EXPORT_RETENTION = int(env.get("EXPORT_RETENTION", 86400))
        # A queued or running export older than this is taken as dead (worker killed).
        self.EXPORT_STUCK_AFTER = int(env.get("EXPORT_STUCK_AFTER", 3600))
        self.EXPORT_SWEEP_INTERVAL = int(env.get("EXPORT_SWEEP_INTERVAL", 900))
        # A restore waits this long for running worker tasks, then refuses.
        self.RESTORE_WAIT_FOR_TASKS = float(env.get("RESTORE_WAIT_FOR_TASKS", 300))
        # The longest single row (dump line) a restore loads; a longer one is refused.
        self.RESTORE_MAX_ROW_BYTES = int(env.get("RESTORE_MAX_ROW_BYTES", 64 * 1024 * 1024))
        # How long a PostgreSQL restore waits for another session to let go of a table before it
        # loads the slower way, with the indexes in place (app/dumps/loaders/setaside.py).
        self.RESTORE_LOCK_TIMEOUT = float(env.get("RESTORE_LOCK_TIMEOUT", 5))
        # A task that touches site data and starts during a restore is retried this much later.
        self.TASK_RETRY_DURING_RESTORE = float(env.get("TASK_RETRY_DURING_RESTORE", 30))
        # Deleted media wait this long in the trash (a backup may still need them).
        self.MEDIA_TRASH_GRACE = int(env.get("MEDIA_TRASH_GRACE", 3600))
        self.MEDIA_TRASH_SWEEP_INTERVAL = int(env.get("MEDIA_TRASH_SWEEP_INTERVAL", 600))
        # The largest site export accepted for import (file and unpacked), and its member count.
        self.SITE_IMPORT_MAX_BYTES = int(env.get("SITE_IMPORT_MAX_BYTES", 2 * 1024**3))
        self.SITE_IMPORT_MAX_MEMBERS = int(env.get("SITE_IMPORT_MAX_MEMBERS", 100_000))
        # Uploads on a site's page waiting for confirmation, kept per site (the oldest gives way).
        self.SITE_IMPORT_MAX_PENDING = int(env.get("SITE_IMPORT_MAX_PENDING", 2))
        # How long an owner's restore waits for a running backup to finish (seconds).
        self.RESTORE_LOCK_WAIT = float(env.get("RESTORE_LOCK_WAIT", 600))
        # Off the machine (docs/operations.md): object storage, encryption, cross-host locks.
        self.BACKUP_STORAGE_URL = env.get("BACKUP_STORAGE_URL")
        self.BACKUP_STORAGE_ENDPOINT = env.get("BACKUP_STORAGE_ENDPOINT")
        self.BACKUP_STORAGE_PART_SIZE = int(env.get("BACKUP_STORAGE_PART_SIZE", 16 * 1024 * 1024))
        self.BACKUP_STORAGE_CONCURRENCY = int(env.get("BACKUP_STORAGE_CONCURRENCY", 4))
        self.BACKUP_REMOTE_KEEP = int(env.get("BACKUP_REMOTE_KEEP", 30))
        self.BACKUP_REMOTE_KEEP_DAILY = count_of(env, "BACKUP_REMOTE_KEEP_DAILY")
        self.BACKUP_REMOTE_KEEP_WEEKLY = count_of(env, "BACKUP_REMOTE_KEEP_WEEKLY")
        self.BACKUP_REMOTE_KEEP_MONTHLY = count_of(env, "BACKUP_REMOTE_KEEP_MONTHLY")
        self.BACKUP_REMOTE_KEEP_YEARLY = count_of(env, "BACKUP_REMOTE_KEEP_YEARLY")
        self.BACKUP_REMOTE_VERIFY_SCHEDULE = env.get("BACKUP_REMOTE_VERIFY_SCHEDULE", "30 4 * * *")
        self.BACKUP_AGE_RECIPIENTS = env.get("BACKUP_AGE_RECIPIENTS")
        self.BACKUP_AGE_IDENTITY_FILE = env.get("BACKUP_AGE_IDENTITY_FILE")
        self.EXPORT_STORAGE_URL = env.get("EXPORT_STORAGE_URL")
        self.EXPORT_STORAGE_ENDPOINT = env.get(
            "EXPORT_STORAGE_ENDPOINT", self.BACKUP_STORAGE_ENDPOINT
        )
        self.EXPORT_STORAGE_LINK_TTL = int(env.get("EXPORT_STORAGE_LINK_TTL", 300))
        self.BACKUP_LOCK_URL = env.get("BACKUP_LOCK_URL")
        self.BACKUP_LOCK_TTL = float(env.get("BACKUP_LOCK_TTL", 30))
        self.BACKUP_LOCK_PREFIX = env.get("BACKUP_LOCK_PREFIX", "stinkykitty")
        # Someone is told (docs/operations.md): Apprise URLs, reminders, the check, a heartbeat.
        self.NOTIFY_URLS = env.get("NOTIFY_URLS")
        self.NOTIFY_REPEAT = int(env.get("NOTIFY_REPEAT", 24 * 3600))
        self.NOTIFY_CHECK_INTERVAL = int(env.get("NOTIFY_CHECK_INTERVAL", 15 * 60))
        self.NOTIFY_HEARTBEAT_URL = env.get("NOTIFY_HEARTBEAT_URL")
        # The bearer token that opens GET /metrics (unset: no /metrics).
        self.METRICS_TOKEN = env.get("METRICS_TOKEN")
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            setattr(self, key, env.get(key))
        self.AWS_DEFAULT_REGION = env.get("AWS_DEFAULT_REGION", env.get("AWS_REGION"))

        # How User.set_password hashes (a werkzeug method; slow on purpose). Not read from
        # the environment: the test fixtures alone set a cheap one.
        self.PASSWORD_HASH_METHOD = "scrypt"

        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # On when the site is served over HTTPS: browsers then never send the cookie in clear.
        self.SESSION_COOKIE_SECURE = env.get("SESSION_COOKIE_SECURE", "0").lower() in TRUE_WORDS
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        # Reverse proxies in front of the web server (hops whose X-Forwarded-For, -Proto and
        # -Host are trusted, see Werkzeug's ProxyFix); 0: the peer is the client.
        self.TRUSTED_PROXIES = int(env.get("TRUSTED_PROXIES", 0))
        # Failed logins allowed per account (email) from one client address, and per client
        # address (Flask-Limiter syntax); counted in Redis when Redis is the broker, else in
        # each web process.
        self.LOGIN_FAILURES_PER_ACCOUNT = env.get(
            "LOGIN_FAILURES_PER_ACCOUNT", "5 per minute; 20 per hour"
        )
        self.LOGIN_FAILURES_PER_ADDRESS = env.get(
            "LOGIN_FAILURES_PER_ADDRESS", "20 per minute; 100 per hour"
        )
        # None: the broker's Redis when it is Redis, else memory (see create_app).
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI")
        self.RATELIMIT_KEY_PREFIX = env.get("RATELIMIT_KEY_PREFIX", "stinkykitty")
        self.RATELIMIT_HEADERS_ENABLED = True
        # Redis down: log in unthrottled rather than not at all (the error is logged).
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.MAX_CONTENT_LENGTH = 64 * 1024 * 1024

        for key, value in overrides.items():
            setattr(self, key, value)


def count_of(env, name):
    """Return the whole number 0 or more that ``name`` sets (0 when unset); else ValueError."""
    text = env.get(name, "0")
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a whole number") from None
    if count < 0:
        raise ValueError(f"{name}={text!r}: a count of backups is 0 or more")
    return count


def zone_of(env, name):
    """Return the time zone name that ``name`` sets (UTC when unset), checked; else ValueError."""
    text = env.get(name, "UTC")
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name}={text!r} is not a time zone (an IANA name such as Europe/Amsterdam)"
        ) from None
    return text


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
