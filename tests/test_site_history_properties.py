"""The site index and the history under Hypothesis: hostile dump lines, and random seasons of edits.

A season is a run of nightly states of one site (pages with blocks, media with
tags, edited, added and deleted at random, nights without change included);
each state is written as dump lines, indexed, and the history built from the
indexes is checked against a plain model: one version per run of equal
states, and what differs from the last state, page by page and media by media.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.backup.errors import CorruptArchive
from app.backup.history.index import PARENTS, SiteIndexer
from app.backup.history.listing import _collapse, diff, has_changes

SITE = {"id": 1, "subdomain": "lakeside", "title": "Camp", "created_at": "2025-01-01T00:00:00"}

texts = st.text(max_size=8)
pages = st.dictionaries(
    st.integers(1, 12),
    st.tuples(
        st.sampled_from(["home", "about", "camp", "news"]), texts, st.lists(texts, max_size=3)
    ),
    max_size=6,
)
media = st.dictionaries(
    st.integers(1, 8),
    st.tuples(st.sampled_from(["a.jpg", "b.png"]), st.frozensets(texts, max_size=3)),
    max_size=4,
)
states = st.tuples(pages, media)


def _lines(state):
    """Return {table: dump bytes} of a site state, as a dump writes rows (by id, ids first)."""
    site_pages, site_media = state
    out = {table: [] for table in PARENTS}
    out["sites"].append(SITE)
    tag = 0
    for page_id in sorted(site_pages):
        slug, title, _blocks = site_pages[page_id]
        out["pages"].append(
            {"id": page_id, "site_id": 1, "slug": f"{slug}-{page_id}", "title": title}
        )
    blocks = [  # a block keeps its id; all pages' blocks in id order, together
        {"id": page_id * 100 + n, "page_id": page_id, "data": {"html": text}}
        for page_id in site_pages
        for n, text in enumerate(site_pages[page_id][2])
    ]
    out["blocks"] = sorted(blocks, key=lambda row: row["id"])
    for media_id in sorted(site_media):
        name, tags = site_media[media_id]
        row = {"id": media_id, "site_id": 1, "stored_name": f"{media_id}-{name}"}
        out["media_items"].append({**row, "original_name": name, "size": 3})
        for text in sorted(tags, reverse=media_id % 2 == 0):  # tag ids in any order
            tag += 1
            out["media_tags"].append({"id": tag, "media_id": media_id, "tag": text})
    return {
        table: b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)
        for table, rows in out.items()
    }


def _entry(state):
    indexer = SiteIndexer()
    for table, data in _lines(state).items():
        indexer.watch(table)(data)
    (entry,) = indexer.entries()
    return entry


def _model_diff(then, now):
    """What differs, by the model: pages and media by id (media by id and file)."""

    def media_keys(state):
        return {(i, f"{i}-{name}"): tags for i, (name, tags) in state[1].items()}

    then_media, now_media = media_keys(then), media_keys(now)
    return {
        "pages": (
            sorted(set(now[0]) - set(then[0])),
            sorted(set(then[0]) - set(now[0])),
            sorted(i for i in set(now[0]) & set(then[0]) if now[0][i] != then[0][i]),
        ),
        "media": (
            sorted(k[0] for k in set(now_media) - set(then_media)),
            sorted(k[0] for k in set(then_media) - set(now_media)),
            sorted(k[0] for k in set(now_media) & set(then_media) if now_media[k] != then_media[k]),
        ),
    }


def _ids(changes):
    return {
        kind: tuple(
            sorted(item["id"] for item in changes[kind][what])
            for what in ("added", "removed", "changed")
        )
        for kind in ("pages", "media")
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.one_of(states, st.just(None)), st.booleans()), min_size=1, max_size=8))
def test_a_season_of_edits_gives_one_version_per_run_and_its_changes(season):
    """Off-site-only nights (True) collapse like the others; a version restores one here if any."""
    nights, offsite, last = [], [], ({}, {})
    for state, only_offsite in season:  # None: a night without change
        last = last if state is None else state
        nights.append(last)
        offsite.append(only_offsite)
    found = [
        (_id(n), f"2025-07-{n + 1:02d}T02:00:00Z", _entry(s), offsite[n])
        for n, s in reversed(list(enumerate(nights)))
    ]
    versions = _collapse(found)
    for version in versions:
        here = [b for b in version.backups if not offsite[int(b[-9:-7]) - 1]]
        assert version.backup_id == (here or version.backups)[0]
        assert version.offsite == (not here)
    runs = [nights[0]]
    for state in nights[1:]:
        if state != runs[-1]:
            runs.append(state)
    assert len(versions) == len(runs)
    now = _entry(nights[-1])
    for version, state in zip(versions, reversed(runs), strict=True):
        changes = diff(version.entry, now)
        assert _ids(changes) == _model_diff(state, nights[-1])
        same = state[0] == nights[-1][0] and state[1] == nights[-1][1]
        assert has_changes(changes) is not same
    assert sum(len(v.backups) for v in versions) == len(nights)


def _id(night):
    return f"stinkykitty-2025-07-{night + 1:02d}-020000"


@given(st.sampled_from(sorted(PARENTS)), st.lists(st.binary(max_size=60), max_size=6))
def test_hostile_dump_lines_index_or_are_refused_by_name(table, chunks):
    indexer = SiteIndexer()
    indexer.watch("sites")(b'{"id":1,"subdomain":"a","title":"A","created_at":"x"}\n')
    feed = indexer.watch(table)
    try:
        for chunk in chunks:
            feed(chunk)
        indexer.entries()
    except CorruptArchive as exc:
        refused = str(exc)
    else:
        return
    assert f"the dump of {table}" in refused
