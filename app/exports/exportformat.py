"""Read a site export's files back, trusting nothing: every JSON file checked against the format.

The format is documented in docs/site-exports.md and ``readme.md``; its version
is ``export_format_version`` in the manifest. Every version ever written keeps
reading here: version 2 adds each media item's ``preview`` (base64, or null)
to version 1, and may carry the site's static copy under ``site/``, which an
import ignores. An extracted export becomes
site rows (``app.sitedata.rows``) that the site loader writes.
"""

import base64
import binascii
import datetime as dt
import json

from app.exports.data import EXPORT_FORMAT, STORED_NAME
from app.models import utc_naive
from app.sitedata import InvalidSiteData

READABLE_VERSIONS = (1, 2)
STATIC_SITE_SINCE = 2  # the first version whose exports may carry site/
DATA_FILES = ("README.md", "site.json", "pages.json", "menu.json", "media.json")
MAX_JSON_BYTES = 256 * 1024 * 1024
# key -> (allowed JSON types, required); every key of a record must be listed.
NULL = type(None)
SITE_KEYS = {
    "id": (int,), "subdomain": (str,), "custom_domain": (str, NULL), "title": (str,),
    "tagline": (str, NULL), "theme": (dict,), "created_at": (str, NULL),
    "updated_at": (str, NULL),
}  # fmt: skip
PAGE_KEYS = {
    "id": (int,), "slug": (str,), "title": (str,), "published": (bool,),
    "created_at": (str, NULL), "updated_at": (str, NULL), "blocks": (list,),
}  # fmt: skip
BLOCK_KEYS = {
    "id": (int,), "type": (str,), "position": (int,), "data": (dict,),
    "created_at": (str, NULL), "updated_at": (str, NULL),
}  # fmt: skip
MENU_KEYS = {"id": (int,), "label": (str,), "url": (str,), "position": (int,)}
MEDIA_KEYS = {
    "id": (int,), "original_name": (str,), "mime_type": (str,), "size": (int,),
    "file": (str, NULL), "tags": (list,), "uploaded_by": (str, NULL),
    "created_at": (str, NULL), "updated_at": (str, NULL),
}  # fmt: skip
MEDIA_KEYS_V2 = {**MEDIA_KEYS, "preview": (str, NULL)}
MAX_PREVIEW_BYTES = 16 * 1024 * 1024


def check_export_manifest(manifest, name):
    """Raise InvalidSiteData unless ``manifest`` is a site export this app reads; return counts."""
    if manifest.get("format") != EXPORT_FORMAT:
        raise InvalidSiteData(f"{name}: not a StinkyKitty site export ({manifest.get('format')!r})")
    version = manifest.get("export_format_version")
    if version not in READABLE_VERSIONS:
        raise InvalidSiteData(
            f"{name}: site export format version {version!r} is not one this app reads "
            f"({', '.join(map(str, READABLE_VERSIONS))}); upgrade StinkyKitty to import it"
        )
    site = manifest.get("site")
    if not isinstance(site, dict) or not isinstance(site.get("subdomain"), str):
        raise InvalidSiteData(f"{name}: its manifest does not say which site it holds")
    for entry in manifest["files"]:
        path, size = entry["path"], entry["size"]
        if path.startswith("media/"):
            if not STORED_NAME.fullmatch(path[len("media/") :]):
                raise InvalidSiteData(f"{name}: unexpected media file name {path!r}")
        elif path in DATA_FILES:
            if size > MAX_JSON_BYTES:
                raise InvalidSiteData(f"{name}: {path} is implausibly large ({size} bytes)")
        elif path.startswith("site/") and version >= STATIC_SITE_SINCE:
            if not STORED_NAME.fullmatch(path[len("site/") :]):
                raise InvalidSiteData(f"{name}: unexpected static site file name {path!r}")
            if size > MAX_JSON_BYTES:
                raise InvalidSiteData(f"{name}: {path} is implausibly large ({size} bytes)")
        elif path != "SHA256SUMS":
            raise InvalidSiteData(f"{name}: unexpected member {path!r}")
    listed = {entry["path"] for entry in manifest["files"]}
    missing = [f for f in DATA_FILES if f not in listed]
    if missing:
        raise InvalidSiteData(f"{name}: {missing[0]} is missing")
    return manifest.get("counts") or {}


def _check_record(where, record, keys):
    if not isinstance(record, dict):
        raise InvalidSiteData(f"{where} must be an object")
    unknown = set(record) - set(keys)
    if unknown:
        raise InvalidSiteData(f"{where} has an unknown key {sorted(unknown)[0]!r}")
    for key, types in keys.items():
        if key not in record:
            raise InvalidSiteData(f"{where} lacks {key!r}")
        value = record[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise InvalidSiteData(f"{where}: {key!r} has the wrong type")
    return record


def _time(where, text):
    """Parse an export time ("2025-07-14T09:30:00.000000Z") into naive UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidSiteData(f"{where}: {_shown(text)} is not an ISO 8601 time") from None
    try:
        return utc_naive(value)
    except ValueError as exc:
        raise InvalidSiteData(f"{where}: {exc}") from None


def _shown(value):
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _preview(where, text):
    """Decode a media item's preview (version 2: base64, or null)."""
    if text is None:
        return None
    if len(text) > MAX_PREVIEW_BYTES * 4 // 3 + 4:
        raise InvalidSiteData(f"{where}: its preview is larger than {MAX_PREVIEW_BYTES:,} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSiteData(f"{where}: its preview is not base64") from None


def _load_json(folder, name, kind):
    try:
        value = json.loads((folder / name).read_text(encoding="utf-8"))
    except (UnicodeError, ValueError) as exc:
        raise InvalidSiteData(f"{name} is not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidSiteData(f"{name} is nested too deeply to read") from None
    if not isinstance(value, kind):
        raise InvalidSiteData(f"{name} must hold a JSON {kind.__name__}")
    return value


def read_export_rows(folder, manifest):
    """Return the site rows of the export extracted into ``folder`` (manifest already checked)."""
    site = _check_record("site.json", _load_json(folder, "site.json", dict), SITE_KEYS)
    if site["id"] != manifest["site"].get("id") or site["subdomain"] != manifest["site"].get(
        "subdomain"
    ):
        raise InvalidSiteData("site.json is of another site than the manifest says")
    pages = []
    for index, page in enumerate(_load_json(folder, "pages.json", list)):
        where = f"pages.json item {index}"
        _check_record(where, page, PAGE_KEYS)
        blocks = [
            _check_record(f"{where} block {n}", block, BLOCK_KEYS)
            for n, block in enumerate(page["blocks"])
        ]
        pages.append(
            {
                **page,
                "created_at": _time(where, page["created_at"]),
                "updated_at": _time(where, page["updated_at"]),
                "blocks": [
                    {
                        **b,
                        "created_at": _time(where, b["created_at"]),
                        "updated_at": _time(where, b["updated_at"]),
                    }
                    for b in blocks
                ],
            }
        )
    menu = [
        _check_record(f"menu.json item {n}", item, MENU_KEYS)
        for n, item in enumerate(_load_json(folder, "menu.json", list))
    ]
    files = {e["path"] for e in manifest["files"] if e["path"].startswith("media/")}
    media_keys = MEDIA_KEYS if manifest["export_format_version"] == 1 else MEDIA_KEYS_V2
    media, used = [], set()
    for index, item in enumerate(_load_json(folder, "media.json", list)):
        where = f"media.json item {index}"
        _check_record(where, item, media_keys)
        member = item["file"]
        if member is not None and (member not in files or member in used):
            raise InvalidSiteData(f"{where}: its file {member!r} is not in the archive")
        used.add(member)
        if not all(isinstance(tag, str) for tag in item["tags"]):
            raise InvalidSiteData(f"{where}: tags must be strings")
        media.append(
            {
                "id": item["id"],
                "stored_name": member[len("media/") :] if member else f"missing-{item['id']}",
                "original_name": item["original_name"],
                "mime_type": item["mime_type"],
                "size": item["size"],
                "preview": _preview(where, item.get("preview")),
                "uploaded_by": item["uploaded_by"],
                "tags": [{"id": None, "tag": tag} for tag in item["tags"]],
                "created_at": _time(where, item["created_at"]),
                "updated_at": _time(where, item["updated_at"]),
                "source": folder / member if member else None,
            }
        )
    if files - used:
        raise InvalidSiteData(f"{sorted(files - used)[0]} belongs to no media item")
    return {
        "site": {
            **{k: site[k] for k in ("id", "subdomain", "custom_domain", "title", "tagline")},
            "theme": site["theme"],
            "created_at": _time("site.json", site["created_at"]),
            "updated_at": _time("site.json", site["updated_at"]),
            "owner": None,
        },
        "members": None,
        "pages": pages,
        "menu": menu,
        "media": media,
    }
