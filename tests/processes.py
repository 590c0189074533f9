"""Subprocess and filesystem helpers shared by the tests."""

import os
import signal
import subprocess
from contextlib import contextmanager, suppress


def stop_group(proc, timeout=20):
    """Stop ``proc`` (a warm shutdown), then kill whatever is left of its process group.

    ``proc`` must have been started with ``start_new_session=True``.
    """
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def small_filesystem(folder, size="4m"):
    """Mount a real tmpfs of ``size`` on ``folder`` so the disk really fills up (root only).

    Skips the test when mounting is refused.
    """
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
