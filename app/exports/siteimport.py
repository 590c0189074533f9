"""Import a site export (from this server or another): as a new site, or over an existing one.

The archive is untrusted input. It is refused before anything changes unless:
it is at most ``SITE_IMPORT_MAX_BYTES`` big and unpacks to at most as much, in at
most ``SITE_IMPORT_MAX_MEMBERS`` members (folders count too), leaving the backups'
reserve free (``app.exports.uploads.backup_reserve``); the archive reader's checks
all pass, to the end of the file (nothing after its end)
(names, types, sizes, every SHA-256, see ``app.archive.reader``); it is a site
export of a format version this app reads; and every JSON file matches the
format (``app.exports.exportformat``) and refers only within itself
(``app.sitedata.rows``). Then the site loader writes it in one transaction.
"""

import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.archive import (
    CorruptArchive,
    check_space,
    extract_archive,
    read_manifest,
    remove_tree,
    verify_archive,
)
from app.config import archive_key
from app.coordination import Guard
from app.exports.export import exports_dir
from app.exports.exportformat import check_export_manifest, read_export_rows
from app.exports.uploads import backup_reserve
from app.sitedata import InvalidSiteData, load_site

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
    owner: str | None = None  # the owner's email; exports of 0.2.0 and before do not say

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
            "owner": self.owner,
        }


def _file_limit(config, archive):
    """Raise InvalidSiteData if the archive file is over SITE_IMPORT_MAX_BYTES."""
    most = config["SITE_IMPORT_MAX_BYTES"]
    size = Path(archive).stat().st_size
    if size > most:
        raise InvalidSiteData(
            f"{Path(archive).name}: {size:,} bytes, more than the {most:,} bytes allowed"
        )


def _limits(config, archive, manifest):
    """Raise InvalidSiteData if the archive or what it unpacks to is over the limits."""
    name = Path(archive).name
    most = config["SITE_IMPORT_MAX_BYTES"]
    _file_limit(config, archive)
    if len(manifest["files"]) > config["SITE_IMPORT_MAX_MEMBERS"]:
        raise InvalidSiteData(f"{name}: too many members ({len(manifest['files'])})")
    unpacked = sum(entry["size"] for entry in manifest["files"])
    if unpacked > most:
        raise InvalidSiteData(f"{name}: unpacks to {unpacked:,} bytes, more than {most:,} allowed")
    return unpacked


def inspect_export(config, archive, *, trusted=False, key=None):
    """Check a whole export (limits, structure, every checksum); return an ExportPreview.

    The file is read to its end before anything is shown: an export whose
    manifest is fine but whose rest is damaged, or followed by anything, is refused.
    A ``trusted`` archive (this server's own copy of a site, for undo) is not
    held to the upload limits and must carry this server's authentication tag;
    with a ``key``, any archive must carry that key's valid tag.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise InvalidSiteData(f"{archive.name}: no such file")
    if not trusted:
        _file_limit(config, archive)
    manifest = read_manifest(archive)
    counts = check_export_manifest(manifest, archive.name)
    if not trusted:
        _limits(config, archive, manifest)
    verified = verify_archive(
        archive,
        key=archive_key(config) if trusted else key,
        max_members=None if trusted else config["SITE_IMPORT_MAX_MEMBERS"],
    )
    if verified != manifest:
        raise CorruptArchive(f"{archive.name}: the archive changed while it was read")
    site = manifest["site"]
    return ExportPreview(
        site_id=site.get("id") if isinstance(site.get("id"), int) else None,
        subdomain=site["subdomain"],
        title=str(site.get("title", "")),
        exported_at=manifest.get("exported_at"),
        app_version=manifest.get("app_version"),
        counts={k: v for k, v in counts.items() if isinstance(v, int)},
        size=archive.stat().st_size,
        owner=site["owner"] if isinstance(site.get("owner"), str) else None,
    )


def import_site(
    config,
    engine,
    archive,
    *,
    subdomain=None,
    owner_email=None,
    replace_site_id=None,
    guard: Guard | None = None,
    progress=None,
    before_commit=None,
    site_users_only=False,
    prepare=None,
    trusted=False,
):
    """Import export ``archive`` as a new site, or over site ``replace_site_id``; return a summary.

    A new site takes ``subdomain`` (default: the export's) and ``owner_email``.
    ``guard(site_id)`` is a context manager held around the write (the callers'
    lock and maintenance); ``progress(done, total)`` follows the extraction;
    ``prepare(conn)`` runs first in the load's transaction (``load_site``).
    ``site_users_only``: see ``load_site`` (an owner's restore). A ``trusted``
    archive is this server's own export of the site (the undo of a restore): it
    is not held to the upload limits nor to the backups' reserve, must carry
    this server's authentication tag, and its rows keep their ids.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise InvalidSiteData(f"{archive.name}: no such file")
    if not trusted:
        _file_limit(config, archive)
    manifest = read_manifest(archive)
    check_export_manifest(manifest, archive.name)
    if trusted:
        unpacked = sum(entry["size"] for entry in manifest["files"])
    else:
        unpacked = _limits(config, archive, manifest)
    folder = exports_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    try:
        reserve = 0 if trusted else backup_reserve(config)  # room for the next system backup
        what = f"importing {archive.name} (keeping room for the next backup)"
        free = check_space(unpacked + reserve, folder, what) - reserve
        extracted = extract_archive(
            archive,
            staging,
            progress=progress,
            max_bytes=free if trusted else min(free, config["SITE_IMPORT_MAX_BYTES"]),
            max_members=None if trusted else config["SITE_IMPORT_MAX_MEMBERS"],
            key=archive_key(config) if trusted else None,
        )
        if extracted != manifest:
            raise CorruptArchive(f"{archive.name}: the archive changed while it was read")
        check_export_manifest(extracted, archive.name)
        rows = read_export_rows(staging, extracted)
        with guard(replace_site_id) if guard else contextlib.nullcontext():
            return load_site(
                config,
                engine,
                rows,
                replace_site_id=replace_site_id,
                subdomain=subdomain,
                owner_email=owner_email,
                before_commit=before_commit,
                prepare=prepare,
                site_users_only=site_users_only,
                keep_ids=trusted,
            )
    finally:
        remove_tree(staging, ignore_errors=True)
