"""``python -m bench.bounds``: what hostile input costs the readers (time and peak memory).

Not part of the test run (tests/test_archive_bounds.py proves the bounds on
small inputs, without timing). Each case runs in a fresh process so that its
peak resident memory (``ru_maxrss``, making the input included) is its own;
the time is that of the read alone:

- one dump row of 100, 200 and 400 MiB read by the restore's line reader,
  with the cap raised above it (linear time, memory about the row) and at its
  default (refused after 64 MiB);
- a chain of 16 pax headers of 1 MB each (distinct keys) before
  ``manifest.json``: each under the old per-header cap, together far over the
  chain's;
- 1 GiB of zeros after the end-of-archive blocks (a few MB compressed).
"""

import gzip
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024


def _row(folder, size, cap):
    from app.dumps.lines import RowTooLong, read_blocks

    path = Path(folder, "001-blocks.jsonl")
    with open(path, "wb") as out:
        for _ in range(size // MiB):
            out.write(b"x" * MiB)
        out.write(b"\n")
    started = time.perf_counter()
    try:
        for _ in read_blocks(path, "blocks", cap):
            pass
        return "read", time.perf_counter() - started
    except RowTooLong as exc:
        return str(exc), time.perf_counter() - started


def _archive(folder, head, tail):
    from app.archive import read_manifest, verify_archive
    from app.archive.errors import ArchiveError
    from tests.craft import honest_tar

    path = Path(folder, "hostile.tar.gz")
    with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(head)
        gz.write(honest_tar())
        for _ in range(tail // MiB):
            gz.write(bytes(MiB))
    size = path.stat().st_size
    started = time.perf_counter()
    try:
        read_manifest(path)
        verify_archive(path)
        return f"read ({size:,} bytes)", time.perf_counter() - started
    except ArchiveError as exc:
        return f"refused ({size:,} bytes): {exc}", time.perf_counter() - started


def _chain():
    from tests.craft import extended, pax_record

    return b"".join(
        extended("x", b"".join(pax_record(f"k{i}.{n}", b"v" * 40) for n in range(20_000)))
        for i in range(16)
    )


CASES = {
    "row 100 MiB": lambda d: _row(d, 100 * MiB, 512 * MiB),
    "row 200 MiB": lambda d: _row(d, 200 * MiB, 512 * MiB),
    "row 400 MiB": lambda d: _row(d, 400 * MiB, 512 * MiB),
    "row 400 MiB, default cap": lambda d: _row(d, 400 * MiB, 64 * MiB),
    "pax header chain": lambda d: _archive(d, _chain(), 0),
    "1 GiB of zeros after the end": lambda d: _archive(d, b"", 1024 * MiB),
}


def _one(name):
    with tempfile.TemporaryDirectory() as folder:
        outcome, seconds = CASES[name](folder)  # the time of the read alone
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"{name:32} {seconds:7.2f} s {peak:8.0f} MiB  {outcome[:100]}")


def main():
    """Run each case in its own process and print one line for each."""
    if len(sys.argv) > 1:
        _one(sys.argv[1])
        return
    for name in CASES:
        subprocess.run([sys.executable, "-m", "bench.bounds", name], check=True)


if __name__ == "__main__":
    main()
