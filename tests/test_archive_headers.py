"""The tar header of a member is byte for byte what ``tarfile`` writes, on the fast path too.

``app.archive.members.tar_header`` builds a plain ustar header itself for short
ASCII names (a hundred thousand media files make its cost count) and leaves
everything else to ``tarfile``: the archive format must not change by a byte.
"""

import tarfile

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.archive.members import _tarfile_header, tar_header

NAMES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), min_size=1, max_size=110),
    st.text(min_size=1, max_size=110).filter(lambda s: "\x00" not in s),
    st.just("uploads/12/0123456789abcdef0123456789abcdef.jpg"),
)
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from([0, 1, 511, 512, 8**11 - 1, 8**11, 8**11 + 1]),
)


@settings(max_examples=2000, deadline=None)
@given(name=NAMES, size=NUMBERS, mtime=NUMBERS)
@example(name="a" * 100, size=8**11 - 1, mtime=8**11 - 1)  # the largest on the fast path
@example(name="a" * 101, size=0, mtime=0)  # a pax record for the name
@example(name="db/0003-pages.jsonl", size=8**11, mtime=0)  # a pax record for the size
@example(name="uploads/\udcff.jpg", size=1, mtime=1)  # a name that is not UTF-8
def test_every_header_is_the_one_tarfile_writes(name, size, mtime):
    assert tar_header(name, size, mtime) == _tarfile_header(name, size, mtime)


def test_a_header_reads_back_with_tarfile(tmp_path):
    name = "uploads/3/0123456789abcdef0123456789abcdef.jpg"
    path = tmp_path / "one.tar"
    path.write_bytes(tar_header(name, 3, 1_700_000_000) + b"abc" + bytes(509) + bytes(1024))
    with tarfile.open(path) as tar:
        (info,) = tar.getmembers()
        assert (info.name, info.size, info.mtime, info.mode) == (name, 3, 1_700_000_000, 0o644)
        assert tar.extractfile(info).read() == b"abc"
