"""The site index spool's tables, and how ids, sizes and names are kept in them.

Ids beyond SQLite's 64 bits are kept as their digits (text); a size that is
not a plain 64-bit integer (a JSON ``true``, a huge number) as its JSON; names
as UTF-8 bytes with ``surrogatepass`` (SQLite's text would refuse lone
surrogates), and file names as their ``name_key`` (which sorts as Python does).
"""

import json
from typing import cast

from app.backup.mediaspool import name_of, text_key, text_of

__all__ = [
    "INDEXES",
    "INSERTS",
    "INSERT_FILES",
    "SCHEMA",
    "id_key",
    "id_of",
    "name_of",
    "size_key",
    "size_of",
    "text_key",
    "text_of",
]

SCHEMA = """
CREATE TABLE pages (id PRIMARY KEY, site, slug BLOB, title BLOB, line BLOB);
CREATE TABLE site_pages (n INTEGER PRIMARY KEY, site, id);
CREATE TABLE runs (n INTEGER PRIMARY KEY, page, count INTEGER, offset INTEGER, length INTEGER);
CREATE TABLE page_sums (id PRIMARY KEY, sha BLOB, blocks INTEGER);
CREATE TABLE broken (id PRIMARY KEY);
CREATE TABLE media (id PRIMARY KEY, site, stored BLOB, name BLOB, size, sha BLOB);
CREATE TABLE site_media (n INTEGER PRIMARY KEY, site, id);
CREATE TABLE tags (n INTEGER PRIMARY KEY, media, count INTEGER, total BLOB);
CREATE TABLE files (site, key BLOB, size, sha BLOB);
"""
INSERTS = {
    "pages": "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?)",
    "site_pages": "INSERT INTO site_pages (site, id) VALUES (?, ?)",
    "runs": "INSERT INTO runs (page, count, offset, length) VALUES (?, ?, ?, ?)",
    "page_sums": "INSERT OR REPLACE INTO page_sums VALUES (?, ?, ?)",
    "broken": "INSERT OR IGNORE INTO broken VALUES (?)",
    "media": "INSERT OR REPLACE INTO media VALUES (?, ?, ?, ?, ?, ?)",
    "site_media": "INSERT INTO site_media (site, id) VALUES (?, ?)",
    "tags": "INSERT INTO tags (media, count, total) VALUES (?, ?, ?)",
}
INSERT_FILES = "INSERT INTO files VALUES (?, ?, ?, ?)"
# Made once the rows are in (kept up to date if more come after).
INDEXES = """
CREATE INDEX IF NOT EXISTS site_pages_site ON site_pages (site);
CREATE INDEX IF NOT EXISTS pages_site ON pages (site);
CREATE INDEX IF NOT EXISTS site_media_site ON site_media (site);
CREATE INDEX IF NOT EXISTS media_site ON media (site);
CREATE INDEX IF NOT EXISTS tags_media ON tags (media);
CREATE INDEX IF NOT EXISTS files_site ON files (site, key, size, sha);
"""
INT64 = range(-(1 << 63), 1 << 63)  # what SQLite keeps as an integer


def id_key(value: int) -> int | str:
    """Return an id as SQLite keeps it: an integer, or its digits beyond 64 bits."""
    return value if value in INT64 else str(value)


def id_of(value: int | str) -> int:
    """Return the id kept as ``value``."""
    return int(value) if isinstance(value, str) else value


def size_key(size: object) -> object:
    """Return a size as kept: an integer, or its JSON (true, or beyond 64 bits)."""
    return size if type(size) is int and size in INT64 else json.dumps(size)


def size_of(kept: object) -> int:
    """Return the size kept as ``kept`` (a bool when a JSON true came: an int to Python)."""
    return cast(int, json.loads(kept) if isinstance(kept, str) else kept)
