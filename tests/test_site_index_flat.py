"""The site index kept in SQLite gives the very entries and index file the in-memory one gave.

Random dumps (sites, their rows, rows of sites not in the dump, pages whose
blocks come interleaved by block id, media items with tags in any order, ids
and names of every kind, columns in either order, chunks cut anywhere) and
random archive members are fed both to ``SiteIndexer`` and to the former
indexer (``tests.indexref``); their entries and index files must be the same.
"""

import itertools
import json
import tempfile
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.backup.catalog import backups_dir
from app.backup.errors import CorruptArchive
from app.backup.history import indexspool
from app.backup.history import store as indexfiles
from app.backup.history.index import PARENTS, SiteIndexer, site_files
from tests import indexref

# Titles and names: non-ASCII, quotes, backslashes, empty, lone surrogates.
hostile = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(['"', "\\", "'", "\udc80", "\udcff", "é", "☀", "\U0001f600"]),
    ),
    max_size=6,
)
values = st.one_of(hostile, st.none(), st.integers(-5, 5), st.booleans())
site_ids = st.integers(1, 6)  # sites 5 and 6 are never in the dump
parents = st.one_of(st.integers(1, 45), st.just(2**64 + 3), st.sampled_from([True, "2", None]))
row_ids = st.one_of(st.integers(1, 40), st.just(2**64 + 3), st.just(-7))


@st.composite
def dumps(draw):
    """Return {table: [row]} of a dump, in foreign-key order, each row a dict in column order."""
    tables: dict[str, list[dict]] = {table: [] for table in PARENTS}
    for site_id in draw(st.lists(st.integers(1, 4), max_size=4)):
        tables["sites"].append(
            {
                "id": site_id,
                "subdomain": draw(hostile),
                "title": draw(st.one_of(hostile, st.none())),
                "created_at": draw(hostile),
            }
        )
    for table in ("site_users", "menu_items"):
        for n in range(draw(st.integers(0, 4))):
            tables[table].append({"id": n + 1, "site_id": draw(site_ids), "x": draw(values)})
    for _ in range(draw(st.integers(0, 12))):
        tables["media_items"].append(
            {
                "id": draw(row_ids),
                "site_id": draw(site_ids),
                "stored_name": draw(st.one_of(hostile, st.none())),
                "original_name": draw(hostile),
                "size": draw(st.one_of(st.integers(0, 2**70), st.booleans(), st.none(), hostile)),
            }
        )
    for _ in range(draw(st.integers(0, 12))):
        tables["pages"].append(
            {
                "id": draw(row_ids),
                "site_id": draw(site_ids),
                "slug": draw(values),
                "title": draw(st.one_of(hostile, st.just(""), st.none())),
            }
        )
    for n in range(draw(st.integers(0, 40))):  # by block id: the pages' blocks interleaved
        tables["blocks"].append({"id": n + 1, "page_id": draw(parents), "data": draw(values)})
    for n in draw(st.permutations(range(draw(st.integers(0, 20))))):  # tag ids in any order
        tables["media_tags"].append({"id": n + 1, "media_id": draw(parents), "tag": draw(hostile)})
    return tables


def _line(row: dict, parent_first: bool) -> bytes:
    if parent_first and len(row) > 1:  # another column order: read in full, not by its head
        first, second, *rest = row
        row = {second: row[second], first: row[first], **{k: row[k] for k in rest}}
    text = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass") + b"\n"


@st.composite
def fed(draw):
    """Return [(table, [chunk])]: each table's dump lines, cut into chunks anywhere."""
    out = []
    for table, rows in draw(dumps()).items():
        data = b"".join(_line(row, draw(st.booleans())) for row in rows)
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
        bounds = [0, *cuts, len(data)]
        out.append((table, [data[a:b] for a, b in itertools.pairwise(bounds)]))
    return out


folders = st.sampled_from(["1", "2", "3", "01", "٣", "5", "x", "", "1a"])
file_names = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_characters="/"),
        st.sampled_from(["\udc80", "\udce9", "\udcff", "é", "ä", "\U0001f600", "a"]),
    ),
    max_size=5,
)
members = st.dictionaries(
    st.one_of(
        st.builds(lambda f, n: f"uploads/{f}/{n}", folders, file_names),
        st.sampled_from(["manifest.json", "uploads/", "uploads/3", "tables/x.jsonl"]),
    ),
    st.tuples(st.integers(0, 2**40), st.text(alphabet="0123456789abcdef", max_size=3)),
    max_size=10,
)


def _feed(indexer, chunks_by_table):
    for table, chunks in chunks_by_table:
        feed = indexer.watch(table)
        for chunk in chunks:
            feed(chunk)


def _refused(indexer, chunks_by_table):
    try:
        _feed(indexer, chunks_by_table)
    except CorruptArchive as exc:
        return str(exc)
    return None


def _written(config, index):
    try:
        return indexfiles.write_index(config, index).read_bytes()
    except UnicodeEncodeError:  # a lone surrogate in a title: refused by both alike
        return "unwritable"


def _reference_bytes(index):
    try:
        return indexref.index_bytes(index)
    except UnicodeEncodeError:
        return "unwritable"


# How many rows the spool holds before it inserts them, the bytes of a run of block lines kept
# as one row, and of lines held, and how many pages' SHA-256 stay open: small ones cut runs
# and batches (a media item's tag sum in parts) anywhere, and seal pages whose blocks come
# again later (hashed again from their runs).
limits = st.tuples(
    st.sampled_from([1, 2, 3, 2000]),
    st.sampled_from([1, 60, 1 << 16]),
    st.sampled_from([1, 2, 1024]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fed(), members, limits)
def test_the_flat_index_is_the_former_one(chunks_by_table, files, limit):
    reference = indexref.SiteIndexer()
    batch, run_bytes, open_pages = limit
    with (
        mock.patch.object(indexspool, "OPEN_PAGES", open_pages),
        mock.patch.object(indexspool, "BATCH", batch),
        mock.patch.object(indexspool, "RUN_BYTES", run_bytes),
        mock.patch.object(indexspool, "BATCH_BYTES", run_bytes * 4),
        SiteIndexer() as indexer,
    ):
        refused = _refused(reference, chunks_by_table)
        assert _refused(indexer, chunks_by_table) == refused
        if refused is not None:
            return
        for path, (size, sha256) in files.items():
            indexer.add_file(path, size, sha256)
        sizes = {path: size for path, (size, _sha) in files.items()}
        sums = {path: sha256 for path, (_size, sha256) in files.items()}
        expected = reference.entries(indexref.site_files(sizes, sums))
        assert indexer.entries() == expected
        assert indexer.entries(site_files(sizes, sums)) == expected
        assert site_files(sizes, sums) == indexref.site_files(sizes, sums)
        assert indexer.entries({}) == reference.entries()

        with tempfile.TemporaryDirectory() as folder:
            config = {"STINKY_DATA_DIR": folder}
            backups_dir(config).mkdir(parents=True)
            backup_id = "stinkykitty-2026-01-02-030405"
            made = indexfiles.make_index(backup_id, "2026-01-02T03:04:05Z", "0002", [])
            written = _written(config, {**made, "sites": indexer.iter_entries()})
            assert written == _reference_bytes({**made, "sites": expected})


def test_an_index_is_written_from_an_iterator_one_site_at_a_time(tmp_path):
    config = {"STINKY_DATA_DIR": str(tmp_path)}
    backups_dir(config).mkdir(parents=True)
    backup_id = "stinkykitty-2026-01-02-030405"
    path = indexfiles.index_path(config, backup_id)
    with SiteIndexer() as indexer:
        indexer.watch("sites")(b'{"id":2,"subdomain":"b","title":"B"}\n{"id":1,"subdomain":"a"}\n')
        indexer.add_file("uploads/1/a.jpg", 3, "ab")
        produced = []

        def sites():
            for entry in indexer.iter_entries():
                produced.append(entry["id"])
                yield entry

        indexfiles.write_index(config, indexfiles.make_index(backup_id, None, None, sites()))
        index = indexfiles.read_index(config, backup_id)
        assert index is not None
        assert produced == [1, 2]
        assert index["sites"] == indexer.entries()
        assert [site["files"]["count"] for site in index["sites"]] == [1, 0]

        def failing():
            yield from indexer.iter_entries()
            raise OSError("no room")

        path.unlink()
        with pytest.raises(OSError, match="no room"):
            indexfiles.write_index(config, indexfiles.make_index(backup_id, None, None, failing()))
        assert list(path.parent.iterdir()) == []


def test_the_indexer_fed_in_one_thread_is_read_in_another():
    import threading

    indexer = SiteIndexer()
    lines = b'{"id":1,"subdomain":"a","title":"A"}\n'
    pages = b"".join(b'{"id":%d,"site_id":1,"slug":"p","title":"P"}\n' % n for n in range(1, 3000))
    blocks = b"".join(b'{"id":%d,"page_id":%d}\n' % (n, n % 2999 + 1) for n in range(1, 9000))

    def dump():
        indexer.watch("sites")(lines)
        indexer.watch("pages")(pages)
        indexer.watch("blocks")(blocks)

    thread = threading.Thread(target=dump)
    thread.start()
    thread.join()
    (entry,) = indexer.entries()
    assert entry["rows"]["pages"] == 2999
    assert entry["rows"]["blocks"] == 8999
    indexer.close()


def test_a_closed_indexer_has_dropped_its_database():
    with SiteIndexer() as indexer:
        indexer.watch("sites")(b'{"id":1,"subdomain":"a","title":"A"}\n')
    with pytest.raises(indexspool.IndexSpoolFailed, match="closed database"):
        indexer.entries()


def test_a_failing_temporary_database_spares_the_dump_and_fails_the_index_as_an_os_error(
    tmp_path,
):
    config = {"STINKY_DATA_DIR": str(tmp_path)}
    backups_dir(config).mkdir(parents=True)
    with SiteIndexer() as indexer:
        indexer._spool._db.execute("PRAGMA max_page_count = 8")  # a temporary folder that fills
        indexer.watch("sites")(b'{"id":1,"subdomain":"a","title":"A"}\n')
        indexer.watch("pages")(b'{"id":1,"site_id":1,"slug":"p","title":"P"}\n')
        block = b'{"id":%d,"page_id":1,"data":"' + b"x" * 500 + b'"}\n'
        indexer.watch("blocks")(b"".join(block % n for n in range(1, 5000)))  # does not raise
        made = indexfiles.make_index("stinkykitty-2026-01-02-030405", None, None, [])
        with pytest.raises(OSError, match=r"temporary database failed .*full"):
            indexfiles.write_index(config, {**made, "sites": indexer.iter_entries()})
    assert list(backups_dir(config).iterdir()) == []
