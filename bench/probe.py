"""Run one operation in a fresh process and report its time and its memory above idle.

``python -m bench.probe OP DATA_DIR [ARG ...]`` prints one JSON line:
``{"seconds": ..., "idle_kb": ..., "peak_kb": ..., "result": ...}``. The idle
figure is the process's resident memory after importing and creating the app;
the kernel's peak counter (VmHWM) is reset just before the operation, so
``peak_kb - idle_kb`` is what the operation itself needed.
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


def main(argv):
    """Run the operation named in ``argv`` and print its measurements."""
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
        result = fn(app, *args)
        seconds = time.perf_counter() - start
        peak = _vm("VmHWM")
    print(json.dumps({"seconds": seconds, "idle_kb": idle, "peak_kb": peak, "result": result}))


if __name__ == "__main__":
    main(sys.argv[1:])
