"""``python -m bench.offsite``: upload throughput and memory, ours against boto3's ``upload_file``.

Starts a moto S3 server on a free port, writes a file of random bytes, and
uploads it several times, each in a fresh process so its peak memory (max
RSS, less the same process's RSS after imports) is its own:

- ``ours``: ``app.storage.ObjectStore.upload_file`` (one part at a time, SHA-256
  per part, the store's checksum compared at the end), as off-site copies do;
- ``ours+age``: the same through age encryption (``BACKUP_AGE_RECIPIENTS``);
- ``boto3``: ``client.upload_file`` with its defaults (8 MiB parts, 10 threads),
  what ``aws s3 cp`` does;
- ``fetch`` and ``fetch+age``: the way back, streamed to a file (decrypted).

Memory is reported for two file sizes: flat means the same peak for both.
The server runs on the same 2 cores, so the figures compare the clients with
each other, not with a real store.
"""

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PART = 8 * 1024 * 1024  # the same part size for both clients
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _rss_mb():
    """Return this process's peak RSS in MiB (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode, path, endpoint, bucket):
    """Upload (or fetch) ``path`` once by ``mode``; print seconds and the memory it added."""
    import boto3
    from boto3.s3.transfer import TransferConfig

    from app.storage import ObjectStore
    from app.storage.age import encrypt_stream, parse_recipients

    client = boto3.client("s3", endpoint_url=endpoint)
    store = ObjectStore(f"s3://{bucket}/bench", endpoint=endpoint, part_size=PART)
    store.client  # noqa: B018  (made before the baseline)
    import pyrage

    recipients = parse_recipients(str(pyrage.x25519.Identity.generate().to_public()))
    identity = None
    if mode.startswith("fetch"):
        from app.storage.age import decrypt_stream, load_identities

        identity = load_identities(Path(path).with_suffix(".key"))
    base = _rss_mb()
    key = f"{mode}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    if mode.startswith("fetch"):  # download (and decrypt) what the parent uploaded
        name = Path(path).name + (".age" if mode == "fetch+age" else "")
        with store.open(name) as body, open(Path(path).with_suffix(".out"), "wb") as out:
            if mode == "fetch+age":
                decrypt_stream(body, out, identity)
            else:
                while chunk := body.read(1024 * 1024):
                    out.write(chunk)
    elif mode == "ours":
        store.upload_file(key, path)
    elif mode == "ours+age":
        with open(path, "rb") as source, store.writer(key) as writer:
            encrypt_stream(source, writer, recipients)
    else:
        client.upload_file(
            str(path), bucket, f"bench/{key}",
            Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "added_mb": _rss_mb() - base}))


def _stage_fetches(path, endpoint, bucket):
    """Upload ``path`` plain and encrypted (to a key written beside it) for the fetch modes."""
    from pyrage import x25519

    from app.storage import ObjectStore
    from app.storage.age import encrypt_stream

    key = x25519.Identity.generate()
    Path(path).with_suffix(".key").write_text(f"{key}\n")
    store = ObjectStore(f"s3://{bucket}/bench", endpoint=endpoint, part_size=PART)
    store.upload_file(Path(path).name, path)
    with open(path, "rb") as source, store.writer(Path(path).name + ".age") as writer:
        encrypt_stream(source, writer, [key.to_public()])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None):
    """Run the bench; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, nargs=2, default=[64, 256], help="two file sizes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    port = _free_port()
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        os.environ.update(ENV)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        rows = []
        with tempfile.TemporaryDirectory() as scratch:
            for mb in args.mb:
                path = Path(scratch) / f"{mb}.bin"
                with open(path, "wb") as f:
                    for _ in range(mb):
                        f.write(os.urandom(1024 * 1024))
                _stage_fetches(path, endpoint, bucket)
                for mode in ("boto3", "ours", "ours+age", "fetch", "fetch+age"):
                    runs = []
                    for _ in range(args.runs):
                        out = subprocess.run(
                            [sys.executable, "-m", "bench.offsite", "--child", mode, str(path),
                             endpoint, bucket],
                            env=env, cwd=ROOT, check=True, capture_output=True, text=True,
                        )  # fmt: skip
                        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                    seconds = statistics.median(r["seconds"] for r in runs)
                    memory = max(r["added_mb"] for r in runs)
                    rows.append((mb, mode, mb / seconds, seconds, memory))
                    print(
                        f"{mb} MiB {mode}: {mb / seconds:.1f} MiB/s, +{memory:.0f} MiB", flush=True
                    )
        print("\n| file | client | throughput | median time | memory added (max) |")
        print("|---|---|---|---|---|")
        for mb, mode, rate, seconds, memory in rows:
            print(f"| {mb} MiB | {mode} | {rate:.1f} MiB/s | {seconds:.2f} s | {memory:.0f} MiB |")
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit(main())
