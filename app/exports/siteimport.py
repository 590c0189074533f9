"""Import a site export (from this server or another): as a new site, or over an existing one.

The archive is untrusted input. It is refused before anything changes unless:
it is at most ``SITE_IMPORT_MAX_BYTES`` big and unpacks to at most as much, in at
most ``SITE_IMPORT_MAX_MEMBERS`` members; the archive reader's checks all pass
(names, types, sizes, every SHA-256, see ``app.archive.reader``); it is a site
export of a format version this app reads; and every JSON file matches the
format (``app.exports.exportformat``) and refers only within itself
(``app.exports.siterows``). Then the site loader writes it in one transaction.
"""

import contextlib
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.archive import extract_archive, read_manifest
from app.archive.errors import CorruptArchive
from app.archive.space import check_space
from app.config import archive_key
from app.exports.archive import exports_dir
from app.exports.exportformat import check_export_manifest, read_export_rows
from app.exports.loader import load_site
from app.exports.siterows import InvalidSiteData

STAGING_PREFIX = ".import-"


@dataclass(frozen=True)
class ExportPreview:
    """What an export holds, read from its manifest: shown before an import is confirmed."""

    site_id: int | None
    subdomain: str
    title: str
    exported_at: str | None
    app_version: str | None
    counts: dict
    size: int

    def to_dict(self):
        """Return a JSON-ready dict."""
        return {
            "site_id": self.site_id,
            "subdomain": self.subdomain,
            "title": self.title,
            "exported_at": self.exported_at,
            "app_version": self.app_version,
            "counts": self.counts,
            "size": self.size,
        }


def _limits(config, archive, manifest):
    """Raise InvalidSiteData if the archive or what it unpacks to is over the limits."""
    name = Path(archive).name
    most = config["SITE_IMPORT_MAX_BYTES"]
    size = Path(archive).stat().st_size
    if size > most:
        raise InvalidSiteData(f"{name}: {size:,} bytes, more than the {most:,} bytes allowed")
    if len(manifest["files"]) > config["SITE_IMPORT_MAX_MEMBERS"]:
        raise InvalidSiteData(f"{name}: too many members ({len(manifest['files'])})")
    unpacked = sum(entry["size"] for entry in manifest["files"])
    if unpacked > most:
        raise InvalidSiteData(f"{name}: unpacks to {unpacked:,} bytes, more than {most:,} allowed")
    return unpacked


def inspect_export(config, archive, *, trusted=False):
    """Read an export's manifest and check it against the limits; return an ExportPreview.

    A ``trusted`` archive (this server's own copy of a site, for undo) is not
    held to the upload limits.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise InvalidSiteData(f"{archive.name}: no such file")
    manifest = read_manifest(archive)
    counts = check_export_manifest(manifest, archive.name)
    if not trusted:
        _limits(config, archive, manifest)
    site = manifest["site"]
    return ExportPreview(
        site_id=site.get("id") if isinstance(site.get("id"), int) else None,
        subdomain=site["subdomain"],
        title=str(site.get("title", "")),
        exported_at=manifest.get("exported_at"),
        app_version=manifest.get("app_version"),
        counts={k: v for k, v in counts.items() if isinstance(v, int)},
        size=archive.stat().st_size,
    )


def import_site(
    config, engine, archive, *, subdomain=None, owner_email=None, replace_site_id=None,
    guard=None, progress=None, before_commit=None, prepare=None, trusted=False,
):  # fmt: skip
    """Import export ``archive`` as a new site, or over site ``replace_site_id``; return a summary.

    A new site takes ``subdomain`` (default: the export's) and ``owner_email``.
    ``guard(site_id)`` is a context manager held around the write (the callers'
    lock and maintenance); ``progress(done, total)`` follows the extraction;
    ``prepare(conn)`` runs first in the load's transaction (``load_site``).
    A ``trusted`` archive is this server's own export of the site (the undo of
    a restore): it is not held to the upload limits, must carry this server's
    authentication tag, and its rows keep their ids.
    """
    archive = Path(archive)
    inspect_export(config, archive, trusted=trusted)
    folder = exports_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    try:
        manifest = read_manifest(archive)
        if trusted:
            unpacked = sum(entry["size"] for entry in manifest["files"])
        else:
            unpacked = _limits(config, archive, manifest)
        free = check_space(unpacked, folder, f"importing {archive.name}")
        most = free if trusted else min(free, config["SITE_IMPORT_MAX_BYTES"])
        extracted = extract_archive(
            archive, staging, max_bytes=most, progress=progress,
            key=archive_key(config) if trusted else None,
        )  # fmt: skip
        if extracted != manifest:
            raise CorruptArchive(f"{archive.name}: the archive changed while it was read")
        check_export_manifest(extracted, archive.name)
        rows = read_export_rows(staging, extracted)
        with guard(replace_site_id) if guard else contextlib.nullcontext():
            return load_site(
                config, engine, rows, replace_site_id=replace_site_id, subdomain=subdomain,
                owner_email=owner_email, before_commit=before_commit, prepare=prepare,
                keep_ids=trusted,
            )  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
