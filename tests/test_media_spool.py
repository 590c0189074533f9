"""The media spool: a snapshot's files on disk, handed back in the orders a backup needs."""

import hashlib
import json
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from app.backup.mediasnap import content_fingerprint, drop_unreferenced_trash
from app.backup.mediaspool import BATCH, MediaFile, MediaSpool, name_key

# Any str at all, lone surrogates included, for the order of keys.
names = st.text(st.characters(exclude_characters="\0"), min_size=1, max_size=12)
# Any str a file name decodes to: lone surrogates stand for bytes that are not UTF-8.
file_names = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12),
    st.binary(min_size=1, max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
files = st.lists(
    st.builds(
        MediaFile,
        relpath=file_names,
        source=file_names,
        size=st.integers(0, 2**40),
        mtime_ns=st.integers(0, 2**62),
        trashed=st.booleans(),
    ),
    max_size=40,
    unique_by=lambda f: f.relpath,
)


def old_content_fingerprint(dump, media):
    """The fingerprint as it was computed from a list of MediaFile, kept to compare with."""
    digest = hashlib.sha256()
    head = {
        "dialect": dump.dialect,
        "revision": dump.revision,
        "tables": [[t.table, t.rows, t.sha256] for t in dump.tables],
    }
    digest.update(json.dumps(head, sort_keys=True).encode())
    for f in sorted(media, key=lambda f: f.relpath):
        digest.update(f"{f.relpath}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


DUMP = SimpleNamespace(
    dialect="sqlite",
    revision="0002",
    tables=[SimpleNamespace(table="media_items", rows=3, sha256="ab" * 32)],
)


def spool_of(media):
    spool = MediaSpool()
    spool.extend(media)
    return spool


@given(st.lists(names, unique=True))
def test_name_keys_order_as_python_sorts_str(items):
    assert sorted(items, key=name_key) == sorted(items)


@settings(max_examples=50)
@given(files)
def test_the_spool_gives_back_its_files_in_order_added_and_by_name(media):
    spool = spool_of(media)
    assert list(spool) == media
    assert list(spool.by_name()) == sorted(media, key=lambda f: f.relpath)
    assert len(spool) == len(media)
    assert spool.size == sum(f.size for f in media)
    assert all(f.relpath in spool for f in media)


@settings(max_examples=50)
@given(files)
def test_the_fingerprint_is_the_one_of_the_list_of_files(media):
    assert content_fingerprint(DUMP, spool_of(media)) == old_content_fingerprint(DUMP, media)


def test_more_files_than_a_batch_come_back_whole():
    media = [MediaFile(f"{i % 7}/{i}.jpg", f"/links/{i}", i, i * 10) for i in range(2 * BATCH + 5)]
    spool = spool_of(media)
    assert list(spool) == media
    assert [f.relpath for f in spool.by_name()] == sorted(f.relpath for f in media)
    assert content_fingerprint(DUMP, spool) == old_content_fingerprint(DUMP, media)


def test_only_referenced_trashed_files_are_kept(tmp_path):
    media = [
        MediaFile("1/a.jpg", "s1", 1, 1),
        MediaFile("1/b.jpg", "s2", 2, 2, trashed=True),
        MediaFile("2/c.jpg", "s3", 4, 3, trashed=True),
    ]
    rows = tmp_path / "media_items.jsonl"
    rows.write_text(json.dumps({"site_id": 2, "stored_name": "c.jpg"}) + "\n")
    spool = drop_unreferenced_trash(spool_of(media), rows)
    assert list(spool) == [media[0], media[2]]
    assert (len(spool), spool.size) == (2, 5)
