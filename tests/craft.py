"""Build damaged and hostile archives by hand, the way an attacker or a bad disk would."""

import hashlib
import io
import json
import tarfile

from app.archive import checksums_size
from app.archive.tarstream import BLOCK


def manifest_for(files, fmt="stinkykitty-system-backup", **extra):
    """Return manifest bytes listing ``files`` (a list of (path, size)) plus SHA256SUMS."""
    extra.pop("authentication", None)  # crafted archives carry no authentication tag
    paths = ["manifest.json", *[p for p, _ in files]]
    listed = [{"path": p, "size": s} for p, s in files]
    listed.append({"path": "SHA256SUMS", "size": checksums_size(paths)})
    return json.dumps({"format": fmt, "format_version": 1, "files": listed, **extra}).encode()


def sums_for(members):
    """Return SHA256SUMS bytes for ``members`` (a list of (path, bytes))."""
    return "".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in members).encode()


def _regular(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


def build(path, entries, mode="w:gz"):
    """Write ``entries`` to a tar at ``path``.

    Each entry is (name, bytes) for a regular file, or a ready TarInfo for anything else.
    """
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                tar.addfile(*_regular(*entry))
    return path


def honest(path, files, fmt="stinkykitty-system-backup", extra_entries=(), **manifest_extra):
    """Write a valid archive of ``files`` ((name, bytes) pairs), then ``extra_entries``."""
    manifest = manifest_for([(n, len(d)) for n, d in files], fmt, **manifest_extra)
    sums = sums_for([("manifest.json", manifest), *files])
    entries = [("manifest.json", manifest), *files, *extra_entries, ("SHA256SUMS", sums)]
    return build(path, entries)


def special(name, kind, linkname=""):
    """Return a TarInfo of a non-regular kind (tarfile.SYMTYPE, LNKTYPE, CHRTYPE, ...)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def extended(kind, data):
    """Return a pax (``x``) or GNU long-name (``L``) header holding ``data``, padded."""
    info = tarfile.TarInfo("././@PaxHeader" if kind == "x" else "././@LongLink")
    info.type = tarfile.XHDTYPE if kind == "x" else tarfile.GNUTYPE_LONGNAME
    info.size = len(data)
    return info.tobuf(tarfile.USTAR_FORMAT) + data + bytes(-len(data) % BLOCK)


def pax_record(key, value):
    """Return one pax record ("<length> <key>=<value>\\n"), its length counting itself."""
    body = f" {key}=".encode() + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def records(count, width):
    """Return ``count`` pax records of distinct unknown keys, each about ``width`` bytes."""
    return b"".join(pax_record(f"k{n}", b"v" * width) for n in range(count))


HONEST_FILES = [("uploads/1/a.jpg", b"a" * 3000), ("uploads/1/b.jpg", b"bb")]


def honest_tar(files=HONEST_FILES, extra_entries=()):
    """Return the uncompressed tar bytes of a valid archive of ``files``."""
    manifest = manifest_for([(n, len(d)) for n, d in files])
    sums = sums_for([("manifest.json", manifest), *files])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in [("manifest.json", manifest), *files, *extra_entries, ("SHA256SUMS", sums)]:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                tar.addfile(*_regular(*entry))
    return raw.getvalue()
