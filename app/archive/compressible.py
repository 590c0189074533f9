"""Which members of an archive are worth deflating: by their name, else by a quick trial.

Media (photos, video, audio, archives, office files) are stored as they are;
deflating them costs time and saves about nothing. Anything else is judged
by deflating its first ``PROBE`` bytes at the fastest level.
"""

import mimetypes

from isal import isal_zlib

from app.archive.members import Member

PROBE = 64 * 1024
INCOMPRESSIBLE_SUFFIXES = set(
    """
    .jpg .jpeg .png .gif .webp .avif .heic .mp4 .m4v .mov .webm .mkv .mp3 .m4a .ogg .opus
    .zip .gz .tgz .bz2 .xz .zst .7z .pdf .docx .xlsx .pptx .odt .woff .woff2
    """.split()
)


def name_suffix(path: str) -> str:
    """Return the lower-cased suffix of a member name (".jpg"), as ``PurePosixPath`` gives it.

    Member names have no empty, "." or ".." parts (checked before), so the last
    part is what follows the last "/"; a name starting with its only dot, or
    ending with a dot, has none. Plain string work: it runs once per member.
    """
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


def guess_compressible(path: str, sample: bytes) -> bool:
    """Return True when a member is worth deflating, by its name, else by a quick trial."""
    if name_suffix(path) in INCOMPRESSIBLE_SUFFIXES:
        return False
    mime = mimetypes.guess_type(path)[0] or ""
    if mime.startswith(("image/", "video/", "audio/")) and not mime.endswith(("svg+xml", "bmp")):
        return False
    if len(sample) < 4096:
        return True  # too small to judge, and too small to matter
    trial = isal_zlib.compress(sample[:PROBE], 1)
    return len(trial) < 0.9 * min(len(sample), PROBE)


def sample(member: Member) -> bytes:
    """Return the first bytes of ``member``, unless its name already tells it is media."""
    if isinstance(member.source, bytes | bytearray):
        return bytes(member.source[:PROBE])
    if name_suffix(member.path) in INCOMPRESSIBLE_SUFFIXES:
        return b""
    with open(member.source, "rb") as f:
        return f.read(PROBE)
