"""A large manifest and SHA256SUMS read as streams judge exactly as the whole parse does.

The streamed path (``app.archive.streamed`` into a ``FileTable``) is taken
here on small inputs, its size thresholds lowered to nothing. Whatever it
accepts, the whole parse (``parse_manifest``, ``parse_checksums``: the
reference, unchanged) accepts with the same result; whatever the whole parse
refuses is refused with the same exception class and message.
"""

import hashlib
import io
import json
import tarfile
import threading
from unittest import mock

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.archive import reader, verify_archive
from app.archive.filelist import FileList, FileTable
from app.archive.reader import parse_manifest
from app.archive.spool import Blob
from app.archive.streamed import stream_checksums
from app.archive.sums import checksum_line, parse_checksums
from tests import craft

SOURCE = "x.tar.gz"
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NAME_PIECES = [
    "a",
    "b/c",
    "media",
    "/",
    "//",
    ".",
    "..",
    "\\",
    "\n",
    "\r",
    "\udcff",
    "\ud800",
    "\x00",
    "☃",
    "manifest.json",
    "SHA256SUMS",
    "HMAC-SHA256",
    " ",
    "\u2028",
    "x" * 256,
]

PARTS = ["a", "b", "media", "x y", "\\", "\n", "\r", "\udcff", "☃", "\u2028", "SHA256SUMS"]
safe_names = st.lists(
    st.lists(st.sampled_from(PARTS), min_size=1, max_size=2).map("".join), min_size=1, max_size=3
).map("/".join)
awkward_names = st.one_of(
    st.lists(st.sampled_from(NAME_PIECES), min_size=0, max_size=4).map("".join),
    st.sampled_from(["SHA256SUMS", "db/001-users.jsonl", "uploads/1/a.png"]),
)
names = st.one_of(safe_names, safe_names, safe_names, awkward_names)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
sizes = st.one_of(
    st.integers(0, 2**40),
    st.integers(0, 2**40),
    st.integers(0, 2**40),
    st.sampled_from([-1, True, False, 1.5, "3", None, 2**80]),
)


@st.composite
def entries(draw):
    """One entry of ``files``: mostly plain, sometimes malformed."""
    entry = {"path": draw(names), "size": draw(sizes)}
    shape = draw(st.sampled_from(["plain"] * 20 + ["reordered", "extra", "nopath", "list"]))
    if shape == "reordered":
        return {"size": entry["size"], "path": entry["path"]}
    if shape == "extra":
        return {**entry, draw(st.text(max_size=3)): draw(json_values)}
    if shape == "nopath":
        return {"size": entry["size"]}
    if shape == "list":
        return [entry["path"], entry["size"]]
    return entry


@st.composite
def manifests(draw):
    """Return manifest bytes: well formed mostly, with every kind of damage mixed in."""
    files = draw(st.lists(entries(), max_size=5))
    if draw(st.sampled_from([True] * 5 + [False])):
        files.append({"path": "SHA256SUMS", "size": draw(st.integers(0, 9999))})
    head = {
        "format": draw(st.sampled_from(["stinkykitty-system-backup"] * 5 + ["other", 7, None])),
        "format_version": draw(st.sampled_from([1, 2] * 3 + [3, True, "2", None])),
    }
    extra = draw(st.dictionaries(st.text(max_size=4), json_values, max_size=3))
    auth = draw(
        st.sampled_from(
            [None, {"member": "HMAC-SHA256", "key_id": "k"}, {"member": "x"}, [], "HMAC-SHA256"]
        )
    )
    manifest = {**head, **extra}
    order = draw(st.sampled_from(["files-first", "files-last", "files-middle"]))
    if order == "files-first":
        manifest = {"files": files, **manifest}
    elif order == "files-last":
        manifest["files"] = files
    else:
        manifest = {**head, "files": files, **extra}
    if auth is not None:
        manifest["authentication"] = auth
    text = json.dumps(
        manifest, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))
    )
    data = text.encode("utf-8", "surrogatepass")
    damage = draw(st.sampled_from(["none"] * 10 + ["cut", "byte", "twice", "trailing", "utf16"]))
    if damage == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "byte":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=2)) + data[at:]
    elif damage == "twice":
        data = b'{"files": [], ' + data[1:] if data.startswith(b"{") else data
    elif damage == "trailing":
        data += draw(st.sampled_from([b" ", b"\n", b"x", b"{}"]))
    elif damage == "utf16":
        data = text.encode("utf-16", "surrogatepass")
    return data


def _outcome(call):
    try:
        return "ok", call()
    except Exception as exc:  # the class and the message are what is compared
        return type(exc), str(exc)


def _whole(data):
    manifest, sizes = parse_manifest(data, SOURCE)
    return repr(manifest), list(sizes.items())


def _streamed(data):
    blob = Blob([data], in_memory=False)
    try:
        manifest, table = reader._parse_manifest_blob(blob, SOURCE)
    finally:
        blob.close()
    files = manifest["files"]
    plain = {**manifest, "files": list(files)}
    return repr(plain), list(table.rows())


HEAD = b'{"format": "stinkykitty-a", "format_version": 2, "files": ['
SUMS = b'{"path": "SHA256SUMS", "size": 1}'


@SETTINGS
@given(data=manifests())
@example(data=HEAD + SUMS + b"]}")
@example(data=HEAD + b'{"path": "\\udcff/a", "size": 1}, ' + SUMS + b"]}")
@example(data=HEAD + b'{"path": "\\ud800", "size": 1}]}')
@example(data=HEAD + SUMS + b'], "x": 1e400}')
@example(data=HEAD + SUMS + b'], "x": 12345678901234567890123}')
@example(data=HEAD + SUMS + b'], "x": NaN}')
@example(data=HEAD + SUMS + b', {"path": "a", "size": 1208925819614629174706176}]}')
@example(data=HEAD + SUMS + b', {"path": "a", "size": 9223372036854775808}]}')
@example(data=HEAD + SUMS + b', {"path": "a", "size": 1, "size": 2}]}')
@example(data=HEAD + SUMS + b'], "format": "stinkykitty-b"}')
@example(data=HEAD + SUMS + b", " + SUMS + b"]}")
@example(data=HEAD + SUMS + b'], "authentication": {"member": "HMAC-SHA256"}}')
def test_a_streamed_manifest_is_judged_as_the_whole_parse_judges_it(data):
    assert _outcome(lambda: _streamed(data)) == _outcome(lambda: _whole(data))


def test_a_streamed_manifest_keeps_its_files_on_disk():
    data = craft.manifest_for([(f"media/{n}.png", n) for n in range(50)])
    blob = Blob([data], in_memory=False)
    manifest, table = reader._parse_manifest_blob(blob, SOURCE)
    assert isinstance(manifest["files"], FileList)
    assert manifest["files"] == json.loads(data)["files"]
    assert manifest["files"][3] == {"path": "media/3.png", "size": 3}
    assert manifest["files"][-1]["path"] == "SHA256SUMS"
    assert table.total == sum(range(50)) + manifest["files"][-1]["size"]
    blob.close()


def test_a_large_file_list_reads_in_another_thread():
    data = craft.manifest_for([(f"media/{n}.png", n) for n in range(5)])
    blob = Blob([data], in_memory=False)
    manifest, _table = reader._parse_manifest_blob(blob, SOURCE)
    blob.close()
    seen = []
    thread = threading.Thread(target=lambda: seen.extend(manifest["files"]))
    thread.start()
    thread.join()
    assert seen == json.loads(data)["files"]


sums_lines = st.one_of(
    st.tuples(names, st.sampled_from(["0" * 64, "a" * 64, "A" * 64, "0" * 63])).map(
        lambda pair: checksum_line(*pair) if "\ud800" not in pair[0] else b"x\n"
    ),
    st.binary(max_size=80).map(lambda b: b + b"\n"),
    st.sampled_from([b"\\" + b"0" * 64 + b"  a\\qb\n", b"0" * 64 + b"  a\\b\n", b"\n"]),
)


@SETTINGS
@given(lines=st.lists(sums_lines, max_size=6), cut=st.booleans())
def test_streamed_checksums_accept_only_what_the_whole_parse_accepts(lines, cut):
    data = b"".join(lines)
    if cut and data:
        data = data[:-1]
    table = FileTable()
    whole = _outcome(lambda: parse_checksums(data, SOURCE, "SHA256SUMS"))
    if stream_checksums(iter(io.BytesIO(data)), table):
        rows = table.db.execute("SELECT path, digest FROM listed").fetchall()
        listed = {name: digest for name, digest in whole[1].items()}
        assert whole[0] == "ok"
        assert sorted(rows) == sorted(
            (name.encode("utf-8", "surrogateescape"), d) for name, d in listed.items()
        )
    else:
        assert whole[0] != "ok"
    table.close()


# Whole archives: what a verify says with everything streamed is what it says with nothing streamed.


def _member(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@st.composite
def archives(draw):
    """Return the members (name, bytes) of a small archive, honest or damaged in one way."""
    count = draw(st.integers(0, 5))
    files = [
        (f"media/{draw(st.sampled_from(['a', 'b/c']))}/{n}.bin", draw(st.binary(max_size=20)))
        for n in range(count)
    ]
    manifest = craft.manifest_for([(n, len(d)) for n, d in files])
    sums = craft.sums_for([("manifest.json", manifest), *files])
    members = [("manifest.json", manifest), *files, ("SHA256SUMS", sums)]
    damage = draw(
        st.sampled_from(["none", "drop", "twice", "size", "digest", "extra", "sumsline", "order"])
    )
    if damage == "drop" and files:
        members.pop(draw(st.integers(1, len(files))))
    elif damage == "twice" and files:
        members.insert(1, members[1])
    elif damage == "size" and files:
        name, data = members[1]
        members[1] = (name, data + b"!")
    elif damage == "digest":
        members[-1] = ("SHA256SUMS", sums.replace(b"0", b"1", 1) if b"0" in sums else sums)
    elif damage == "extra":
        members.insert(1, ("media/unlisted.bin", b"x"))
    elif damage == "sumsline":
        members[-1] = (
            "SHA256SUMS",
            sums + draw(st.sampled_from([b"zz\n", sums.splitlines(True)[0], b"x"])),
        )
    elif damage == "order" and len(files) > 1:
        members[1], members[2] = members[2], members[1]
    return members


def _verify(path, threshold):
    with (
        mock.patch.object(reader, "STREAM_MANIFEST_BYTES", threshold),
        mock.patch.object(reader, "STREAM_SUMS_BYTES", threshold),
    ):
        manifest = verify_archive(path)
    return repr({**manifest, "files": list(manifest["files"])})


@settings(SETTINGS, max_examples=100)
@given(members=archives())
def test_a_streamed_verify_says_what_a_whole_one_says(tmp_path, members):
    path = tmp_path / "a.tar.gz"
    craft.build(path, members)
    assert _outcome(lambda: _verify(path, 0)) == _outcome(lambda: _verify(path, 1 << 30))


def test_digests_of_members_are_compared_in_archive_order(tmp_path):
    files = [("media/b.bin", b"b"), ("media/a.bin", b"a")]
    manifest = craft.manifest_for([(n, len(d)) for n, d in files])
    wrong = [(n, d + b"?") for n, d in files]
    sums = craft.sums_for([("manifest.json", manifest), *wrong])
    path = craft.build(
        tmp_path / "a.tar.gz", [("manifest.json", manifest), *files, ("SHA256SUMS", sums)]
    )
    streamed = _outcome(lambda: _verify(path, 0))
    assert streamed == _outcome(lambda: _verify(path, 1 << 30))
    assert "checksum mismatch for 'media/b.bin'" in streamed[1]
    assert hashlib.sha256(b"b").hexdigest() not in sums.decode()
