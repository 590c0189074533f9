"""Subprocess and filesystem helpers shared by the tests."""

import os
import signal
import subprocess
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Settings of the environment running the tests that must not leak into a child process.
APP_VARIABLES = ("CELERY_", "STINKY_", "DATABASE_URL", "SECRET_KEY", "BACKUP_", "EXPORT_")


def clean_env(**extra):
    """Return the environment for an app process: ours without the app's settings, plus ``extra``.

    The child then reads its settings from ``extra`` alone, as in production.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(APP_VARIABLES)}
    env["PYTHONPATH"] = str(ROOT)
    env.update({k: str(v) for k, v in extra.items()})
    return env


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


def dead_pid():
    """The pid of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
