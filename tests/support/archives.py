"""Golden archives shared by test modules, a backup from the future, an export's content."""

import hashlib
import json
from pathlib import Path

from app.archive import extract_archive
from app.backup.catalog import backups_dir
from tests.backupkit import rebuild, unpack
from tests.goldenkit import golden_backups

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# The first site export format, as 0.1 wrote it.
SITE_EXPORT_V1 = FIXTURES / "site-export-v1.tar.gz"
# The oldest golden backup, and the id it takes when copied in as an old backup.
OLDEST_BACKUP = golden_backups()[0]
OLD_BACKUP_ID = "stinkykitty-2026-11-30-020000"


def newer_copy(app, tmp_path, source):
    """Write a copy of backup ``source`` claiming a schema from the future; return its id."""
    manifest, files = unpack(source, tmp_path / "x")
    newer = {**manifest["database"], "revision": "zz9_future"}
    target = backups_dir(app.config) / "stinkykitty-2099-01-01-000000.tar.gz"
    rebuild(target, manifest, files, database=newer, app_version="9.0.0")
    return target.name.removesuffix(".tar.gz")


def export_content(archive, dest):
    """Return an export's content with ids, site names and file names replaced by what they hold."""
    extract_archive(archive, dest)

    def read(name):
        return json.loads((dest / name).read_text(encoding="utf-8"))

    media = read("media.json")
    digest = {
        m["id"]: hashlib.sha256((dest / m["file"]).read_bytes()).hexdigest() if m["file"] else None
        for m in media
    }

    def blocks_data(value):
        if isinstance(value, dict):
            return {
                k: (digest[v] if k.endswith("media_id") and v is not None else blocks_data(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [blocks_data(v) for v in value]
        return value

    pages = [
        {
            **{k: v for k, v in page.items() if k not in ("id", "blocks")},
            "blocks": [
                {
                    **{k: v for k, v in b.items() if k not in ("id", "data")},
                    "data": blocks_data(b["data"]),
                }
                for b in page["blocks"]
            ],
        }
        for page in read("pages.json")
    ]
    site = {k: v for k, v in read("site.json").items() if k not in ("id", "subdomain")}
    site.pop("custom_domain")
    return {
        "site": site,
        "pages": pages,
        "menu": [{k: v for k, v in m.items() if k != "id"} for m in read("menu.json")],
        "media": [
            {**{k: v for k, v in m.items() if k not in ("id", "file")}, "bytes": digest[m["id"]]}
            for m in media
        ],
    }
