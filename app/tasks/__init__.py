"""Celery tasks: thin wrappers that take ids, call app/backup and record the outcome."""

from app.tasks import (
    backups,  # noqa: F401
    broker,  # noqa: F401
    exports,  # noqa: F401
    media,  # noqa: F401
    notify,  # noqa: F401
    offsite,  # noqa: F401
    ping,  # noqa: F401
    sitehistory,  # noqa: F401
    siteimports,  # noqa: F401
)
