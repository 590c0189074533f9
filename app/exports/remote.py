"""Site exports in object storage (``EXPORT_STORAGE_URL``), for web and workers on separate hosts.

With it set, the worker uploads each finished export (``publish_export``) and
removes its local file; the web answers a download, after its usual checks of
user, site and signed link, with a redirect to a presigned URL that lives
``EXPORT_STORAGE_LINK_TTL`` seconds (default 300). The sweep deletes expired
objects. Without it, every function here is a no-op and exports stay in the
data dir as before.
"""

import logging
from datetime import UTC, timedelta

from app.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)


def enabled(config):
    """Whether exports live in object storage."""
    return bool(config.get("EXPORT_STORAGE_URL"))


def export_store(config):
    """Return the ObjectStore of EXPORT_STORAGE_URL."""
    return ObjectStore.from_config(config, "EXPORT_STORAGE")


def publish_export(config, result):
    """Upload the finished export ``result`` and delete its local file; return ``result``.

    Raises StorageError (the job then fails with a message the owner can read).
    """
    if not enabled(config):
        return result
    writer = export_store(config).upload_file(result.path.name, result.path)
    if writer.sha256 != result.sha256:
        raise StorageError(f"{result.path.name} changed while it was uploaded")
    result.path.unlink(missing_ok=True)
    return result


def download_url(config, filename):
    """Return a short-lived URL of export ``filename``, or None when the object is gone."""
    store = export_store(config)
    if store.head(filename) is None:
        return None
    return store.presigned_url(
        filename, expires=config.get("EXPORT_STORAGE_LINK_TTL", 300), filename=filename
    )


def discard(config, filename):
    """Delete the object of export ``filename`` (no-op without object storage)."""
    if not enabled(config):
        return
    try:
        export_store(config).delete(filename)
    except StorageError as exc:  # the next sweep tries again (it is no longer offered)
        log.warning("could not delete an expired export: %s", exc)


def sweep_objects(config, offered, now, retention_seconds):
    """Delete objects not offered by any job and older than the retention; return their names."""
    if not enabled(config):
        return []
    cutoff = now.replace(tzinfo=UTC) - timedelta(seconds=retention_seconds)
    deleted = []
    try:
        store = export_store(config)
        for obj in store.list():
            if obj.name not in offered and obj.last_modified and obj.last_modified < cutoff:
                store.delete(obj.name)
                deleted.append(obj.name)
    except StorageError as exc:
        log.warning("export sweep could not finish in object storage: %s", exc)
    return deleted
