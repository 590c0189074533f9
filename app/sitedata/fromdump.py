"""One site's rows out of a system backup's dump, in the shape the site loader takes.

``read_site_rows(staging, subdomain)`` is the one source of those rows: it reads
the JSON-lines dump extracted into ``staging`` (``db/NNN-<table>.jsonl``, decoded
with the dump's own column codecs) and the media under ``staging/uploads/``.
It streams each table once and keeps only the site's rows. A backup of an older
schema would be loaded into a scratch database and upgraded first; this reader
reads dumps of the current schema.
"""

import json
from pathlib import Path

from app.archive import CorruptArchive
from app.dumps import column_decoder, read_lines, value_checks
from app.errors import NOT_FOUND, BackupError
from app.models import Block, MediaItem, MediaTag, MenuItem, Page, Site, SiteUser, User

TABLES = {
    model.__tablename__: model.__table__
    for model in (User, Site, SiteUser, Page, Block, MenuItem, MediaItem, MediaTag)
}


class SiteNotInBackup(BackupError):
    """The backup holds no site with that subdomain."""

    exit_code = NOT_FOUND


def dump_member(tables, name):
    """Return the member path of table ``name``'s dump, from a manifest's ``tables`` list."""
    for table in tables:
        if table.get("name") == name:
            return table["path"]
    raise CorruptArchive(f"the backup has no dump of the table {name}")


def iter_dump(path, table, keep=None):
    """Yield the decoded rows of a dump file of ``table`` (only those ``keep(raw row)`` accepts)."""
    decoders = [(c.name, f) for c in table.columns if (f := column_decoder(c)) is not None]
    names = {c.name for c in table.columns}
    # Every value of the right type first (the site loader checks them for its engine).
    check = value_checks(table, "sqlite")
    for lineno, line in enumerate(read_lines(path, table.name), 1):
        try:
            record = _parse(line)
            if not isinstance(record, dict) or record.keys() != names:
                raise ValueError("columns differ from the table's")
            check(record, lineno)
            if keep is not None and not keep(record):
                continue
            for name, decode in decoders:
                if record[name] is not None:
                    record[name] = decode(record[name])
        except (ValueError, TypeError) as exc:
            raise CorruptArchive(f"{Path(path).name} line {lineno}: {exc}") from None
        yield record


def _parse(line):
    """Return a dump line's JSON value; ValueError if it is not JSON or nests too deep."""
    try:
        return json.loads(line)
    except RecursionError:
        raise ValueError("its JSON is nested too deeply to read") from None


def find_site_row(lines, subdomain):
    """Return the raw row of site ``subdomain`` among a sites dump's ``lines``, or None."""
    for line in lines:
        try:
            record = _parse(line)
        except ValueError as exc:
            raise CorruptArchive(f"the backup's sites dump: {exc}") from None
        if isinstance(record, dict) and record.get("subdomain") == subdomain:
            return record
    return None


def read_site_rows(staging, subdomain, dump_dir="db"):
    """Return the site rows of ``subdomain`` from a backup extracted into ``staging``.

    ``dump_dir`` is the folder of the dump inside ``staging``: the backup's own,
    or the one migrated to this app's schema (``app.backup.restore.upgrade.HEAD_DUMP``).
    """
    staging = Path(staging)
    files = {}
    for path in (staging / dump_dir).glob("*.jsonl"):
        files[path.stem.split("-", 1)[-1]] = path
    missing = sorted(set(TABLES) - set(files))
    if missing:
        raise CorruptArchive(f"the backup has no dump of the table {missing[0]}")

    def rows(name, keep):
        return list(iter_dump(files[name], TABLES[name], keep))

    sites = rows("sites", lambda r: r["subdomain"] == subdomain)
    if not sites:
        raise SiteNotInBackup(f"the backup holds no site {subdomain!r}")
    site = sites[0]
    sid = site["id"]
    page_rows = rows("pages", lambda r: r["site_id"] == sid)
    page_ids = {p["id"] for p in page_rows}
    media_rows = rows("media_items", lambda r: r["site_id"] == sid)
    media_ids = {m["id"] for m in media_rows}
    members = rows("site_users", lambda r: r["site_id"] == sid)
    wanted_users = {site["owner_id"]} | {m["user_id"] for m in members}
    wanted_users |= {m["uploaded_by_id"] for m in media_rows}
    emails = {u["id"]: u["email"] for u in rows("users", lambda r: r["id"] in wanted_users)}
    blocks = {}
    for block in rows("blocks", lambda r: r["page_id"] in page_ids):
        blocks.setdefault(block["page_id"], []).append(block)
    tags = {}
    for tag in rows("media_tags", lambda r: r["media_id"] in media_ids):
        tags.setdefault(tag["media_id"], []).append({"id": tag["id"], "tag": tag["tag"]})
    uploads = staging / "uploads" / str(sid)
    return {
        "site": {
            **{k: site[k] for k in ("id", "subdomain", "custom_domain", "title", "tagline")},
            "theme": site["theme"] if site["theme"] is not None else {},
            "created_at": site["created_at"],
            "updated_at": site["updated_at"],
            "owner": emails.get(site["owner_id"]),
        },
        "members": [
            {
                "id": m["id"],
                "email": emails.get(m["user_id"]),
                "role": m["role"],
                "created_at": m["created_at"],
            }
            for m in members
            if m["user_id"] in emails
        ],
        "pages": [
            {
                **{k: p[k] for k in p if k != "site_id"},
                "blocks": [{k: b[k] for k in b if k != "page_id"} for b in blocks.get(p["id"], [])],
            }
            for p in page_rows
        ],
        "menu": [
            {k: m[k] for k in ("id", "label", "url", "position")}
            for m in rows("menu_items", lambda r: r["site_id"] == sid)
        ],
        "media": [
            {
                **{
                    k: m[k]
                    for k in (
                        "id",
                        "stored_name",
                        "original_name",
                        "mime_type",
                        "size",
                        "preview",
                        "created_at",
                        "updated_at",
                    )
                },
                "uploaded_by": emails.get(m["uploaded_by_id"]),
                "tags": tags.get(m["id"], []),
                "source": _media_file(uploads, m["stored_name"]),
            }
            for m in media_rows
        ],
    }


def _media_file(folder, stored_name):
    """Return the path of a media file in the staging folder, or None when the backup lacks it."""
    if "/" in stored_name or stored_name in ("", ".", ".."):
        return None
    path = folder / stored_name
    return path if path.is_file() and not path.is_symlink() else None
