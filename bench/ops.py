"""The operations the benchmark measures, each called as ``op(app, *args)`` in an app context."""

import shutil
from pathlib import Path

from app.archive import extract_archive, verify_archive
from app.extensions import db


def backup(app):
    """Make a system backup (never skipped as unchanged); return its id and size."""
    from app.backup.system import create_backup

    outcome = create_backup(app.config, db.engine, skip_unchanged=False)
    return {"id": outcome.backup_id, "path": str(outcome.path), "size": outcome.size}


def verify(app, backup_id):
    """Verify a system backup."""
    from app.backup.system import verify_backup

    verify_backup(app.config, backup_id)
    return {}


def restore(app, backup_id):
    """Restore a system backup into this app's database and uploads."""
    from app.backup.system import restore_backup

    restore_backup(app.config, db.engine, backup_id)
    return {}


def export(app, site_id):
    """Export one site; return the archive's path and size."""
    from app.exports.export import export_site

    result = export_site(app.config, int(site_id))
    return {"path": str(result.path), "size": result.size}


def static_site(app, site_id):
    """Write one site's static copy (``site/``) as an export does; return its time and size.

    The site and its media are read first, as an export has read them by then;
    the time returned is that of ``write_static_site`` alone.
    """
    import tempfile
    import time

    from app.config import data_path
    from app.exports.staticsite import write_static_site
    from app.models import Site, utcnow

    site = db.session.get(Site, int(site_id))
    uploads = data_path(app.config, "uploads", str(site.id))
    media = {f"media/{m.stored_name}": uploads / m.stored_name for m in site.media}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        written = write_static_site(db.session, site, Path(folder), media, exported_at=utcnow())
        seconds = time.perf_counter() - start
        size = sum(path.stat().st_size for _name, path in written)
    return {"seconds": seconds, "files": len(written), "bytes": size}


def extract(app, archive, dest):
    """Extract and verify an archive into a new folder (what a restore does first)."""
    shutil.rmtree(dest, ignore_errors=True)
    extract_archive(Path(archive), Path(dest))
    return {}


def check(app, archive):
    """Verify an archive without extracting it."""
    verify_archive(Path(archive))
    return {}


def write(app, folder, dest):
    """Archive an unpacked backup's files again with ``write_archive`` alone (no dump, no checks).

    The members are the files tar sees in the same folder, minus the manifest and
    SHA256SUMS, which the writer makes itself; database dumps are marked
    compressible and the whole file is not hashed, as ``create_backup`` does.
    """
    from app.archive import Member, write_archive

    folder, dest = Path(folder), Path(dest)
    dest.unlink(missing_ok=True)
    members = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or rel in ("manifest.json", "SHA256SUMS", "HMAC-SHA256"):
            continue
        compressible = True if rel.startswith("db/") else None
        members.append(Member(rel, path.stat().st_size, path, compressible=compressible))
    result = write_archive(dest, {"format": "stinkykitty-bench"}, members, digest=False)
    return {"path": str(result.path), "size": result.size}


def site_import(app, archive, subdomain):
    """Import a site export over the site at ``subdomain``; return the loader's summary."""
    from app.exports.export import find_site
    from app.exports.siteimport import import_site

    site_id = find_site(db.session, subdomain).id
    db.session.remove()
    return import_site(app.config, db.engine, Path(archive), replace_site_id=site_id).to_dict()


def site_restore(app, backup_id, subdomain):
    """Restore one site from a system backup; return the loader's summary."""
    from app.backup.restore.site import restore_site
    from app.sitedata.loader import load_site

    def load(rows, site_id):
        summary = load_site(app.config, db.engine, rows, replace_site_id=site_id, keep_ids=True)
        return summary.to_dict()

    outcome = restore_site(app.config, db.engine, backup_id, subdomain, load=load)
    return {"subdomain": outcome.subdomain}


def dump(app, dest):
    """Dump every table into a new folder ``dest``, as a backup does; return rows and bytes."""
    from app.dumps.dump import dump_database

    dest = Path(dest)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    dumped = dump_database(db.engine, dest, db.metadata.sorted_tables)
    return {"rows": sum(t.rows for t in dumped.tables), "bytes": sum(t.size for t in dumped.tables)}


def load(app, folder):
    """Replace every row with the dump in ``folder`` in one transaction, as a restore does."""
    from app.dumps.dump import dump_filename, load_database

    tables = db.metadata.sorted_tables
    entries = [(t, Path(folder) / dump_filename(i, t.name)) for i, t in enumerate(tables, 1)]
    with db.engine.begin() as conn:
        counts = load_database(conn, entries)
    return {"rows": sum(counts.values())}


def write_library(app, folder, dest):
    """Archive the same files as ``write`` with ``tarfile`` over ``isal.igzip`` level 1.

    Each file is read through a SHA-256 hashing reader, so the library route does
    the same work per byte as ours (read, hash, compress, write).
    """
    import hashlib
    import tarfile

    from isal import igzip

    class Hashing:
        def __init__(self, raw):
            self.raw, self.digest = raw, hashlib.sha256()

        def read(self, size=-1):
            data = self.raw.read(size)
            self.digest.update(data)
            return data

    folder, dest = Path(folder), Path(dest)
    dest.unlink(missing_ok=True)
    sums = []
    with igzip.open(dest, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if not path.is_file() or rel in ("manifest.json", "SHA256SUMS", "HMAC-SHA256"):
                continue
            with open(path, "rb") as raw:
                reader = Hashing(raw)
                tar.addfile(tar.gettarinfo(str(path), arcname=rel), reader)
                sums.append(reader.digest.hexdigest())
    return {"path": str(dest), "size": dest.stat().st_size}


def history_night(app, archive, night):
    """Edit site 1 as a night's work might, then keep a backup of it for the history bench.

    The backup is ``archive`` hard-linked under the id of ``night`` days later,
    with the site index a backup of the database as it is now would get (the
    database dumped and indexed as a backup does; the media are unchanged, so
    their part of the index is the archive's). Listing a history reads indexes
    only, so 30 such backups cost the disk of one.
    """
    import datetime as dt
    import os
    import tempfile

    from app.backup import catalog
    from app.backup import history as indexfiles
    from app.backup.history import SiteIndexer
    from app.dumps import dump_database
    from app.models import Page, format_utc

    night = int(night)
    pages = db.session.query(Page).filter_by(site_id=1).order_by(Page.id).all()
    if night % 3 == 0:  # every third night a page of site 1 changes
        pages[night % len(pages)].title = f"Edited on night {night}"
    if night % 5 == 0:  # every fifth a page goes
        db.session.delete(pages[-1])
    db.session.commit()
    db.session.remove()
    source = Path(archive)
    first = indexfiles.read_index(app.config, source.name[: -len(catalog.SUFFIX)])
    files = {site["id"]: site["files"] for site in first["sites"]}
    moment = catalog.id_time(first["backup_id"]) + dt.timedelta(days=night)
    backup_id = catalog.backup_id_for(moment)
    indexer = SiteIndexer()
    with tempfile.TemporaryDirectory() as folder:
        dumped = dump_database(
            db.engine,
            folder,
            db.metadata.sorted_tables,
            sink=lambda path: indexer.watch(path.stem.split("-", 1)[1]),
        )
    index = indexfiles.make_index(
        backup_id, format_utc(moment), dumped.revision, indexer.entries(files)
    )
    os.link(source, source.with_name(backup_id + catalog.SUFFIX))
    indexfiles.write_index(app.config, index)
    return {"id": backup_id}


def site_history(app, site_id, subdomain):
    """List a site's history as the page and ``flask site history`` do; return its size."""
    from app.backup.history import site_history

    history = site_history(app.config, db.engine, int(site_id), subdomain, index_missing=False)
    return {
        "versions": len(history.versions),
        "backups": sum(len(v.backups) for v in history.versions),
        "not_indexed": len(history.not_indexed),
    }


def site_live_index(app, site_id):
    """Dump and fingerprint one site's live rows, the part of a listing that reads the database."""
    from app.backup.history import live_entry

    entry = live_entry(db.engine, int(site_id))
    return {"pages": entry["rows"]["pages"], "blocks": entry["rows"]["blocks"]}


def backup_list(app):
    """List the kept backups as ``flask backup list`` does (each archive's manifest read)."""
    from app.backup.system import list_backups

    return {"backups": len(list_backups(app.config))}
