"""Site exports: one site's data as an archive an owner can take away, and back again.

This module is the face the layers above use. Inside:

- ``export``: write an export (``export_site``); ``data`` holds the JSON
  files and the README it carries, ``staticsite/`` the site as static HTML;
- ``jobs``: the "Download my site" job a Celery task drives; ``links``: the
  signed, expiring download links; ``remote``: exports served from object
  storage;
- ``exportformat``: an export's files read back into site rows;
  ``siteimport``: an export archive inspected and imported;
- ``uploads``: an uploaded export, bounded and checked; ``restorejobs``: the
  site page's "Restore from an export file" and its undo, ``restorerun``: such
  a job run by a worker (``undo``: the site saved inside the restore's own
  transaction); ``historyjobs``: the same job of kind ``history``, for Site
  history's "Restore this version";
- ``errors``: ``ExportError``.

Below: one site's data (``app.sitedata``: the rows and the site loader),
coordination (``app.coordination``), the archive format, object storage and
the models. The views live in ``app.blueprints.exports`` and
``app.blueprints.siteimport``.
"""

from app.exports import historyjobs, jobs, remote, restorejobs, restorerun, uploads
from app.exports.errors import ExportError
from app.exports.export import (
    ExportFailed,
    ExportResult,
    SiteNotFound,
    export_site,
    exports_dir,
    find_site,
)
from app.exports.links import InvalidDownloadLink, check_download_token, make_download_token
from app.exports.siteimport import ExportPreview, import_site, inspect_export

__all__ = [
    "ExportError",
    "ExportFailed",
    "ExportPreview",
    "ExportResult",
    "InvalidDownloadLink",
    "SiteNotFound",
    "check_download_token",
    "export_site",
    "exports_dir",
    "find_site",
    "historyjobs",
    "import_site",
    "inspect_export",
    "jobs",
    "make_download_token",
    "remote",
    "restorejobs",
    "restorerun",
    "uploads",
]
