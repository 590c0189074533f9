"""Site exports: one site's settings, pages, menu and media as a self-describing .tar.gz.

The data files are written to a temporary folder next to the archive first (so a
large site is never held in memory), then streamed with the media files through
``archive.write_archive``, which writes the archive atomically.
"""

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from app.archive import Member, write_archive
from app.config import archive_key, data_path
from app.errors import NOT_FOUND
from app.exports.data import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, write_data_files
from app.exports.errors import ExportError
from app.exports.staticsite import write_static_site
from app.models import Site, format_utc, utcnow

TEMP_PREFIX = ".export-"


class SiteNotFound(ExportError):
    """There is no site by that id or subdomain."""

    exit_code = NOT_FOUND


class ExportFailed(ExportError):
    """The export could not be written; the message says why and what to do."""


@dataclass(frozen=True)
class ExportResult:
    """A finished export: where it is, how big, its SHA-256 and what it holds."""

    path: Path
    size: int
    sha256: str
    counts: dict


def exports_dir(config):
    """Return the folder of site exports of ``config``."""
    return data_path(config, "backups", "site-exports")


def export_filename(site_id, when):
    """Return the file name of an export of ``site_id`` made at ``when``."""
    return f"site-{site_id}-{when:%Y-%m-%d-%H%M%S}.tar.gz"


def is_export_temporary(name):
    """Return True for names of half-written exports and their scratch folders."""
    return name.startswith(".")


def find_site(session, subdomain):
    """Return the site at ``subdomain``; raise SiteNotFound if there is none."""
    site = session.scalar(select(Site).where(Site.subdomain == subdomain.strip().lower()))
    if site is None:
        raise SiteNotFound(f"no site with subdomain {subdomain!r}")
    return site


def _free_name(folder, site_id, when):
    """Return a fresh export path, one second later if the name is taken."""
    path = folder / export_filename(site_id, when)
    while path.exists():
        when += timedelta(seconds=1)
        path = folder / export_filename(site_id, when)
    return path


def export_site(
    config, site_id, *, dest=None, clock=utcnow, progress=None, session=None, every_uploader=False
):
    """Write an export of site ``site_id`` and return an ExportResult.

    Goes to ``STINKY_DATA_DIR/backups/site-exports/site-<id>-<UTC time>.tar.gz``
    unless ``dest`` names the file. ``progress(files_done, files_total)`` is
    called as the archive is written. Reads through ``session`` (default: the
    app's) and neither writes nor commits. ``every_uploader``: see
    ``app.exports.data.write_data_files`` (the server's own copy for undo).
    """
    if session is None:
        from app.extensions import db

        session = db.session
    site = session.get(Site, site_id)
    if site is None:
        raise SiteNotFound(f"There is no site with id {site_id} (any more).")
    now = clock()
    if dest is None:
        folder = exports_dir(config)
        folder.mkdir(parents=True, exist_ok=True)
        final = _free_name(folder, site.id, now)
    else:
        final = Path(dest).resolve()
        folder = final.parent
        if not folder.is_dir():
            raise ExportFailed(f"cannot write {final}: folder {folder} does not exist")

    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=folder) as scratch:
        data = write_data_files(
            session, config, site, Path(scratch), exported_at=now, every_uploader=every_uploader
        )
        media_files = {name: path for name, path, _size in data.media}
        data.files += write_static_site(session, site, Path(scratch), media_files, exported_at=now)
        meta = {
            "format": EXPORT_FORMAT,
            "export_format_version": EXPORT_FORMAT_VERSION,
            "site": {
                "id": site.id,
                "subdomain": site.subdomain,
                "title": site.title,
                "owner": site.owner.email if site.owner else None,
            },
            "exported_at": format_utc(now),
            "app_version": _app_version(),
            "counts": data.counts,
        }
        members = [
            Member(path=name, size=path.stat().st_size, source=path, compressible=True)
            for name, path in data.files
        ]
        members += [Member(path=name, size=size, source=path) for name, path, size in data.media]
        try:
            archive = write_archive(
                final, meta, members, progress=progress, key=archive_key(config)
            )
        except FileNotFoundError as exc:
            raise ExportFailed(
                f"A media file of the site ({Path(exc.filename or '?').name}) was deleted "
                "while it was exported. Start the export again."
            ) from exc
    return ExportResult(
        path=archive.path, size=archive.size, sha256=archive.sha256, counts=data.counts
    )


def _app_version():
    from app.version import __version__

    return __version__
