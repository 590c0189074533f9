"""Media references inside block data: found and rewritten wherever they are, for any data."""

from hypothesis import given
from hypothesis import strategies as st

from app.sitedata.rows import media_references, rewrite_media_references

IDS = st.integers(min_value=1, max_value=50)
KEYS = st.sampled_from(["media_id", "poster_media_id", "title", "images", "url", "x_media_id"])
LEAVES = st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.integers(-3, 50))
DATA = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
).map(lambda value: _with_ids(value))


def _with_ids(value):
    """Give every media key an id or null, as a valid block does."""
    if isinstance(value, dict):
        return {
            k: (v if _is_id(v) else None) if k.endswith("media_id") else _with_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_ids(v) for v in value]
    return value


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 50


@given(DATA, st.dictionaries(IDS, IDS, min_size=50, max_size=50))
def test_rewriting_maps_every_reference_and_nothing_else(data, shuffle):
    mapping = {i: 1000 + shuffle.get(i, i) for i in range(1, 51)}
    rewritten = rewrite_media_references(data, mapping)
    before = list(media_references(data))
    after = list(media_references(rewritten))
    assert after == [None if ref is None else mapping[ref] for ref in before]
    identity = {i: i for i in range(1, 51)}
    assert rewrite_media_references(data, identity) == data  # only references change
