"""Run one operation in a fresh process and report its time and its memory above idle.

``python -m bench.probe OP DATA_DIR [ARG ...]`` prints one JSON line:
``{"seconds": ..., "idle_kb": ..., "peak_kb": ..., "result": ...}``. The idle
figure is the process's resident memory after importing and creating the app;
the kernel's peak counter (VmHWM) is reset just before the operation, so
``peak_kb - idle_kb`` is what the operation itself needed.

``python -m bench.probe --profile FILE OP ...`` runs the operation under
cProfile and writes its top functions (by own time, then by cumulative time)
to FILE; the figures it prints are then slower than a plain run's. Every
thread the operation starts (the dump ahead, deflating, hashing and writing)
is profiled too and the profiles are added up, so the top lists show where the
CPU time of all threads goes (a thread waiting for another still shows as
``acquire``).
"""

import json
import os
import sys
import time
from pathlib import Path


def _vm(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak():
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


TOP = 25  # functions listed in a profile, by each sort


def _profiled(fn, app, args, dest):
    import cProfile
    import io
    import pstats
    import threading

    threads = []

    def start(*_event):  # the first event of each new thread: profile it from there on
        profile = cProfile.Profile()
        threads.append(profile)
        profile.enable()

    threading.setprofile(start)
    profile = cProfile.Profile()
    try:
        result = profile.runcall(fn, app, *args)
    finally:
        threading.setprofile(None)
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    for each in threads:
        each.create_stats()
        if each.stats:
            stats.add(each)
    stats.strip_dirs()
    stats.sort_stats("tottime").print_stats(TOP)
    stats.sort_stats("cumulative").print_stats(TOP)
    Path(dest).write_text(text.getvalue())
    return result


def main(argv):
    """Run the operation named in ``argv`` and print its measurements."""
    profile = None
    if argv[0] == "--profile":
        profile, argv = argv[1], argv[2:]
    op, data_dir, *args = argv
    os.environ["STINKY_DATA_DIR"] = data_dir
    from app import create_app
    from app.extensions import db
    from bench import ops

    app = create_app()
    with app.app_context():
        db.engine.connect().close()  # the pool and dialect are part of idle
        fn = getattr(ops, op)
        _reset_peak()
        idle = _vm("VmRSS")
        start = time.perf_counter()
        result = _profiled(fn, app, args, profile) if profile else fn(app, *args)
        seconds = time.perf_counter() - start
        peak = _vm("VmHWM")
    print(json.dumps({"seconds": seconds, "idle_kb": idle, "peak_kb": peak, "result": result}))


if __name__ == "__main__":
    main(sys.argv[1:])
