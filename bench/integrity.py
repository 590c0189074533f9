"""``python -m bench.integrity``: what verification and authentication cost.

Two measurements on one corpus of incompressible media and JSON-lines text,
built in a scratch folder, each the median of several runs with warm caches:

- verify throughput: ``verify_archive`` (inflate, parse, SHA-256 of every
  member, the tag) against GNU ``sha256sum`` over the same member bytes,
  unpacked, and over the archive file itself;
- authentication on create: ``write_archive`` with and without a key (the tag
  is one HMAC over the manifest and the checksum list, plus the read-back).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from app.archive import Member, extract_archive, read_manifest, verify_archive, write_archive
from app.archive.auth import make_tag
from app.archive.sums import manifest_bytes

KEY = b"bench-key-" + b"k" * 54


def build_corpus(folder, media_mb, text_mb):
    """Write random media and JSON-lines text; return the members of an archive of them."""
    members = []
    for n in range(media_mb):
        path = folder / f"photo-{n}.jpg"
        path.write_bytes(os.urandom(1024 * 1024))
        members.append(Member(f"uploads/1/{path.name}", path.stat().st_size, path))
    rows = b"".join(b'{"id": %d, "title": "Camp page %d", "body": "%s"}\n' % (i, i, b"x" * 200)
                    for i in range(text_mb * 4200))  # fmt: skip
    text = folder / "rows.jsonl"
    text.write_bytes(rows)
    members.append(Member("db/001-rows.jsonl", len(rows), text, compressible=True))
    return members


def median_seconds(fn, runs):
    """Run ``fn`` ``runs`` times; return the median wall time."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    """Measure, print a small report and its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media-mb", type=int, default=200)
    parser.add_argument("--text-mb", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-integrity-") as scratch:
        scratch = Path(scratch)
        (scratch / "src").mkdir()
        members = build_corpus(scratch / "src", args.media_mb, args.text_mb)
        meta = {"format": "stinkykitty-bench"}
        plain, tagged = scratch / "plain.tar.gz", scratch / "tagged.tar.gz"

        def write(path, key):
            path.unlink(missing_ok=True)
            write_archive(path, meta, members, key=key, digest=False)

        write(plain, None)  # warm the page cache
        # Interleaved, so a neighbour's load on a shared machine hits both alike.
        pairs = [
            (
                median_seconds(lambda: write(plain, None), 1),
                median_seconds(lambda: write(tagged, KEY), 1),
            )
            for _ in range(args.runs)
        ]
        create_plain = statistics.median(p for p, _ in pairs)
        create_tagged = statistics.median(t for _, t in pairs)
        cost = statistics.median(100 * (t / p - 1) for p, t in pairs)

        unpacked = scratch / "unpacked"
        extract_archive(tagged, unpacked)
        head = manifest_bytes(read_manifest(tagged))
        sums = (unpacked / "SHA256SUMS").read_bytes()
        tag_s = median_seconds(lambda: [make_tag(KEY, head, sums) for _ in range(1000)], 3) / 1000
        files = sorted(str(p) for p in unpacked.rglob("*") if p.is_file())
        member_bytes = sum(os.path.getsize(p) for p in files)
        verify = median_seconds(lambda: verify_archive(tagged, key=KEY), args.runs)
        sha_members = median_seconds(
            lambda: subprocess.run(["sha256sum", *files], check=True, capture_output=True),
            args.runs,
        )
        sha_archive = median_seconds(
            lambda: subprocess.run(["sha256sum", str(tagged)], check=True, capture_output=True),
            args.runs,
        )
        shutil.rmtree(unpacked)
        mb = member_bytes / 1e6
        result = {
            "member_mb": round(mb, 1),
            "archive_mb": round(tagged.stat().st_size / 1e6, 1),
            "verify_s": round(verify, 3),
            "verify_mb_s": round(mb / verify, 1),
            "sha256sum_members_s": round(sha_members, 3),
            "sha256sum_members_mb_s": round(mb / sha_members, 1),
            "sha256sum_archive_s": round(sha_archive, 3),
            "verify_vs_sha256sum": round(verify / sha_members, 2),
            "create_s": round(create_plain, 3),
            "create_authenticated_s": round(create_tagged, 3),
            "authentication_cost_pct": round(cost, 2),  # median of the paired runs
            "tag_us": round(tag_s * 1e6, 1),  # the HMAC itself, per archive
            "tag_pct_of_create": round(100 * tag_s / create_plain, 4),
            "runs": args.runs,
        }
    print(
        f"verify: {result['verify_mb_s']} MB/s ({mb:.0f} MB of members in {verify:.2f} s); "
        f"sha256sum over the same bytes: {result['sha256sum_members_mb_s']} MB/s "
        f"(verify takes {result['verify_vs_sha256sum']}x as long)\n"
        f"create: {create_plain:.3f} s without a key, {create_tagged:.3f} s with one "
        f"({result['authentication_cost_pct']:+.2f}%, median of paired runs); the tag itself "
        f"takes {result['tag_us']} us ({result['tag_pct_of_create']}% of create)"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
