"""Count-heavy corpora: a hundred thousand media files, or a million blocks.

``flask demo seed --preset many-files|many-rows [--scale F]`` builds them for
the bench (docs/benchmarks.md): per-file and per-row costs only show when the
count is large. They are built fast: media files are written directly (a
JPEG header and incompressible bytes, no image encoding, no fsync per file)
and every row of pages, blocks and media goes in by one executemany of
SQLAlchemy Core per batch, never through the ORM row by row. The same preset,
scale and seed give the same content.

- *many files*: 100,000 media files, photos and their thumbnails in pairs
  (photos around 32 KiB, thumbnails around 6 KiB: about 2 GiB in all), over
  20 sites whose sizes fall off as 1/n, so the largest site holds over a
  quarter of them; a few pages each.
- *many rows*: 1,000,000 blocks over 20 sites (50 blocks a page, so 20,000
  pages), little media (200 files).

``--scale`` multiplies every count but the sites (0.01: 1,000 files or 10,000
blocks), for tests and ``python -m bench --quick``.
"""

import bisect
import math
import struct
from dataclasses import dataclass

from sqlalchemy import insert, select

from app.demo import content
from app.extensions import db
from app.models import Block, MediaItem, Page

KIB = 1024
BATCH = 5000  # rows a batch of executemany
POOL = 8 * 1024 * KIB  # random bytes the file bodies are cut from
PHOTO_MEDIAN, PHOTO_SIGMA = 32 * KIB, 0.5
THUMB_MEDIAN, THUMB_SIGMA = 6 * KIB, 0.3
SMALLEST_FILE = 1 * KIB
TEMPLATES = 24  # distinct pages of generated blocks per site; pages reuse them


@dataclass(frozen=True)
class CorpusPreset:
    """The shape of a count-heavy corpus at scale 1."""

    sites: int
    files: int
    blocks: int
    blocks_per_page: int

    def scaled(self, scale):
        """Return the counts at ``scale``: (sites, files, blocks); files stay pairs."""
        pairs = max(1, round(self.files * scale / 2))
        blocks = max(self.sites, round(self.blocks * scale))
        return self.sites, 2 * pairs, blocks


PRESETS = {
    "many-files": CorpusPreset(sites=20, files=100_000, blocks=2_000, blocks_per_page=8),
    "many-rows": CorpusPreset(sites=20, files=200, blocks=1_000_000, blocks_per_page=50),
}


def jpeg_header(width, height):
    """Return the start of a baseline JPEG of ``width`` x ``height`` (its size readable)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3)
    sof0 += b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + app0 + sof0 + sos


def file_sizes(rng, pairs):
    """Return ``pairs`` (photo bytes, thumbnail bytes), drawn log-normally."""
    return [
        (
            max(SMALLEST_FILE, round(rng.lognormvariate(math.log(PHOTO_MEDIAN), PHOTO_SIGMA))),
            max(SMALLEST_FILE, round(rng.lognormvariate(math.log(THUMB_MEDIAN), THUMB_SIGMA))),
        )
        for _ in range(pairs)
    ]


def pairs_per_site(pairs, sites):
    """Split ``pairs`` over ``sites`` with weights 1/n, the first site the largest."""
    weights = [1 / (n + 1) for n in range(sites)]
    total = sum(weights)
    cumulative, running = [], 0.0
    for w in weights:
        running += w / total
        cumulative.append(running)
    counts = [0] * sites
    for k in range(pairs):
        counts[min(sites - 1, bisect.bisect(cumulative, k / pairs))] += 1
    return counts


class FileWriter:
    """Writes media bodies cut from one pool of random bytes; remembers what it wrote."""

    def __init__(self, rng, uploads):
        self.rng = rng
        self.uploads = uploads
        self.pool = rng.randbytes(POOL)
        self.written = []

    def write(self, site_id, size, width, height):
        """Write one JPEG-like file of ``size`` bytes; return its stored name."""
        name = f"{self.rng.getrandbits(128):032x}.jpg"
        folder = self.uploads / str(site_id)
        if not self.written or self.written[-1].parent != folder:
            folder.mkdir(parents=True, exist_ok=True)
        head = jpeg_header(width, height)
        body = max(0, size - len(head) - 2)
        start = self.rng.randrange(POOL - body) if body < POOL else 0
        path = folder / name
        with open(path, "wb") as out:
            out.write(head)
            out.write(self.pool[start : start + body])
            out.write(b"\xff\xd9")
        self.written.append(path)
        return name


def bulk_insert(table, rows):
    """Insert ``rows`` (dicts) into ``table`` by executemany, in batches; return the count."""
    conn = db.session.connection()
    for start in range(0, len(rows), BATCH):
        conn.execute(insert(table), rows[start : start + BATCH])
    return len(rows)


def insert_media(site, sizes, files, when):
    """Write a site's photo and thumbnail pairs and insert their rows; return (ids, bytes)."""
    rows, total = [], 0
    for number, (photo, thumb) in enumerate(sizes, start=1):
        stem = content.photo_name(files.rng, number).rsplit(".", 1)[0]
        for size, suffix, (w, h) in ((photo, "", (1600, 1200)), (thumb, "-thumb", (320, 240))):
            stored = files.write(site.id, size, w, h)
            rows.append(
                {
                    "site_id": site.id,
                    "stored_name": stored,
                    "original_name": f"{stem}{suffix}.jpg",
                    "size": size,
                    "mime_type": "image/jpeg",
                    "uploaded_by_id": site.owner_id,
                    "created_at": when,
                    "updated_at": when,
                }
            )
            total += size
    bulk_insert(MediaItem.__table__, rows)
    ids = db.session.scalars(
        select(MediaItem.id).where(MediaItem.site_id == site.id).order_by(MediaItem.id)
    ).all()
    return list(ids[::2]), total  # the photos: what blocks show


def insert_pages(rng, site, blocks, per_page, media_ids, past):
    """Insert the pages holding ``blocks`` blocks, ``per_page`` a page; return (pages, blocks)."""
    count = max(1, math.ceil(blocks / per_page))
    topics = content.page_topics(count)
    slugs = [slug for slug, _ in topics[:50]]
    times = [past(rng) for _ in topics]
    pages = [
        {
            "site_id": site.id,
            "slug": slug,
            "title": title,
            "published": True,
            "created_at": when,
            "updated_at": when,
        }
        for (slug, title), when in zip(topics, times, strict=True)
    ]
    bulk_insert(Page.__table__, pages)
    ids = db.session.scalars(select(Page.id).where(Page.site_id == site.id).order_by(Page.id)).all()
    templates = [
        content.page_blocks(rng, f"Page {n}", per_page, slugs, media_ids) for n in range(TEMPLATES)
    ]
    rows, made = [], 0
    for page_id, when in zip(ids, times, strict=True):
        template = templates[rng.randrange(TEMPLATES)]
        for position, (kind, data) in enumerate(template[: min(per_page, blocks - made)]):
            rows.append(
                {
                    "page_id": page_id,
                    "type": kind,
                    "position": position,
                    "data": data,
                    "created_at": when,
                    "updated_at": when,
                }
            )
            made += 1
        if len(rows) >= BATCH:
            bulk_insert(Block.__table__, rows)
            rows = []
    bulk_insert(Block.__table__, rows)
    return count, made
