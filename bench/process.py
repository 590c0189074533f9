"""The whole ``flask backup create`` process, as a user runs it, and its start-up.

Each run starts ``python -m flask --app app backup create --force`` (``--force``:
never skipped as unchanged) on the corpus's data dir from the repository root,
and times it from just before the process starts to its exit. Meanwhile the
parent polls ``backups/system/`` every millisecond for the archive's temporary
file (``.<backup id>.tar.gz.tmp-<hex>``; not the writer's ``-text`` spool) and
notes when it first holds a byte: the start-up, process start to first archive
byte. Polling stops there, so it does not compete with the rest of the backup.
The archives made are deleted after each run. An empty process start
(``flask --app app --help``) is timed in the same run, for information.
"""

import os
import re
import subprocess
import time
from pathlib import Path

from bench.__main__ import PY, ROOT, summary, warm

TEMPORARY = re.compile(r"^\..+\.tar\.gz\.tmp-[0-9a-f]+$")
POLL = 0.001  # seconds between two looks at the folder


def _temporaries(folder):
    """Yield the archive temporaries in ``folder`` (none if it does not exist yet)."""
    try:
        with os.scandir(folder) as entries:
            yield from (e for e in entries if TEMPORARY.match(e.name))
    except FileNotFoundError:
        return


def _written(entry):
    """Whether a directory entry still exists and holds at least one byte."""
    try:
        return entry.stat().st_size > 0
    except FileNotFoundError:  # renamed or removed meanwhile
        return False


def _backups(folder):
    return set(folder.glob("stinkykitty-*.tar.gz")) if folder.exists() else set()


def run_create(data_dir):
    """Run ``flask backup create --force`` once; return (seconds to exit, seconds to first byte).

    The second figure is None when the process ended before a poll saw the byte.
    """
    folder = data_dir / "backups" / "system"
    before = _backups(folder)
    stale = {e.name for e in _temporaries(folder)}
    env = {**os.environ, "STINKY_DATA_DIR": str(data_dir)}
    cmd = [PY, "-m", "flask", "--app", "app", "backup", "create", "--force"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    first_byte = None
    while first_byte is None and proc.poll() is None:
        if any(e.name not in stale and _written(e) for e in _temporaries(folder)):
            first_byte = time.perf_counter() - start
            break
        time.sleep(POLL)
    code = proc.wait()
    seconds = time.perf_counter() - start
    if code:
        raise subprocess.CalledProcessError(code, cmd)
    for path in _backups(folder) - before:
        path.unlink()
        drop_index(path)
    return seconds, first_byte


def drop_index(archive):
    """Remove the site index kept beside a backup archive the bench removed (if any)."""
    archive = Path(archive)
    archive.with_name(archive.name.removesuffix(".tar.gz") + ".sites.json").unlink(missing_ok=True)


def empty_start():
    """Return the seconds ``flask --app app --help`` takes: the process start alone."""
    start = time.perf_counter()
    subprocess.run(
        [PY, "-m", "flask", "--app", "app", "--help"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def measure_process(name, data_dir, runs, results):
    """Time the whole ``flask backup create`` process on a corpus, and its start-up."""
    totals, first_bytes, empty = [], [], []
    for _ in range(runs):
        empty.append(empty_start())
        warm(data_dir / "uploads")
        seconds, first_byte = run_create(data_dir)
        totals.append(seconds)
        if first_byte is not None:
            first_bytes.append(first_byte)
    results[name]["process"] = summary(totals)
    if first_bytes:
        results[name]["process_first_byte"] = summary(first_bytes)
    results[name]["process_empty_start"] = summary(empty)
    seen = f"{summary(first_bytes)['median']:.3f} s" if first_bytes else "not seen"
    print(
        f"{name}: `flask backup create` {summary(totals)['median']:.2f} s, first archive byte "
        f"{seen}, empty process start {summary(empty)['median']:.3f} s",
        flush=True,
    )
