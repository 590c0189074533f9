"""The manifest's bytes are exactly ``json.dumps(indent=1)``'s, on the fast path for its file list.

A backup of a hundred thousand files lists them all in its manifest; the list
is written entry by entry (``app.archive.sums``) and must read byte for byte as
``json`` writes it, whatever the names and the rest of the manifest hold.
"""

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.archive.compressible import name_suffix
from app.archive.sums import _fast_manifest_bytes, manifest_bytes, manifest_bytes_of

NAMES = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["uploads/1/a.jpg", 'q"uote\\back\nline', "\udcff\udc80", "\u2028é", "\x00"]),
)
ENTRIES = st.fixed_dictionaries({"path": NAMES, "size": st.integers(min_value=0, max_value=2**50)})
ODD = st.one_of(  # entries the fast path leaves to json
    st.fixed_dictionaries({"size": st.integers(0, 9), "path": NAMES}),
    st.fixed_dictionaries({"path": NAMES, "size": st.booleans()}),
    st.fixed_dictionaries({"path": NAMES, "size": st.integers(0, 9), "x": st.none()}),
)
OTHERS = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ),
    max_size=4,
)


def expected(manifest):
    return json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8", "backslashreplace")


@settings(max_examples=500, deadline=None)
@given(
    files=st.lists(st.one_of(ENTRIES, ENTRIES, ODD), max_size=6),
    before=OTHERS,
    after=OTHERS,
)
@example(files=[{"path": "SHA256SUMS", "size": 1}], before={"x": "\x00files\x00"}, after={})
def test_the_bytes_are_json_dumps_indent_1(files, before, after):
    manifest = {**before, "format": "stinkykitty-backup", "files": files, **after}
    assert manifest_bytes(manifest) == expected(manifest)


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(NAMES, st.integers(min_value=0, max_value=2**50)), max_size=6),
    meta=OTHERS,
)
@example(pairs=[("a", 1)], meta={"x": "\x00files\x00"})
def test_the_bytes_of_a_list_of_pairs_are_those_of_its_dicts(pairs, meta):
    manifest = {**meta, "files": [{"path": path, "size": size} for path, size in pairs]}
    assert manifest_bytes_of(meta, pairs) == expected(manifest)


def test_a_plain_list_takes_the_fast_path():
    manifest = {"format": "stinkykitty-backup", "files": [{"path": "a/b.jpg", "size": 3}], "n": 1}
    assert _fast_manifest_bytes(manifest) is not None
    assert manifest_bytes(manifest) == expected(manifest)


@given(st.text(alphabet="ab./JPG", min_size=1, max_size=12))
def test_a_member_suffix_is_the_one_pathlib_gives(name):
    from pathlib import PurePosixPath

    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return  # not a member name: refused before anything asks its suffix
    assert name_suffix(name) == PurePosixPath(name).suffix.lower()
