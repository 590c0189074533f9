"""`make run` starts web, worker and beat; Ctrl-C stops all three cleanly, and make stays quiet;
it refuses to start beside another `make run`, and fails when one of its processes cannot start."""

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, clean_env
from tests.schedulekit import closed_port, log_tail
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

READY = ("Listening at: http://127.0.0.1:", "celery@", " ready.", "beat: Starting...")


def test_ctrl_c_stops_web_worker_and_beat_without_errors(tmp_path):
    venv = Path(sys.executable).parent.parent  # the venv running the tests (not resolved)
    if not (venv / "bin" / "honcho").exists() or not shutil.which("setsid"):
        pytest.skip("needs honcho in the test venv and setsid (util-linux)")
    if (ROOT / ".env").exists():
        pytest.skip("a .env in the checkout would be read by `make run`")
    log = tmp_path / "make-run.log"
    env = clean_env(STINKY_DATA_DIR=tmp_path / "data", PORT=closed_port())
    command = ["make", "--no-print-directory", "run", f"VENV={venv}"]
    command += ["-o", f"{venv}/bin/.installed"]  # use the venv as it is: install nothing
    with open(log, "wb") as out:
        # Its own process group, like a shell's foreground job: Ctrl-C signals the whole group.
        make = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        try:
            wait_for(lambda: all(w in log_tail(log, 100_000) for w in READY), 120, 0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: web, worker and beat to start\n{log_tail(log)}") from None
        os.killpg(make.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        make.wait(timeout=90)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    output = log.read_text(errors="replace")
    for name in ("web.1", "worker.1", "beat.1"):
        assert f"{name} stopped (rc=0)" in output, output[-4000:]
    assert "ERROR" not in output, output[-4000:]
    assert "SIGKILL" not in output, output[-4000:]
    assert "make: ***" not in output, output[-4000:]
    assert make.returncode == -signal.SIGINT  # make ends as a Ctrl-C'd program should


def _make_run(tmp_path, **environ):
    """Run `make run` to its end (it must end by itself); return (exit code, output)."""
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "honcho").exists() or not shutil.which("setsid"):
        pytest.skip("needs honcho in the test venv and setsid (util-linux)")
    if (ROOT / ".env").exists():
        pytest.skip("a .env in the checkout would be read by `make run`")
    environ.setdefault("STINKY_DATA_DIR", tmp_path / "data")
    command = [
        "make",
        "--no-print-directory",
        "run",
        f"VENV={venv}",
        "-o",
        f"{venv}/bin/.installed",
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=clean_env(**environ),
        capture_output=True,
        text=True,
        timeout=180,
        start_new_session=True,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_taken_port_fails_make_run_before_any_worker_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = _make_run(tmp_path, PORT=port)
    assert code != 0, output[-4000:]
    assert f"make run: Port {port} on 127.0.0.1 is taken" in output, output[-4000:]
    assert f"PORT={port + 1} make run" in output
    assert "celery@" not in output, output[-4000:]
    assert "beat: Starting" not in output, output[-4000:]


def test_a_second_make_run_on_the_same_data_dir_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "run.lock", "a") as held:  # what a running `make run` holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, output = _make_run(tmp_path, PORT=closed_port())
    assert code != 0, output[-4000:]
    assert f"Another `make run` is using the data dir {data}" in output, output[-4000:]
    assert "celery@" not in output, output[-4000:]
    assert "beat: Starting" not in output, output[-4000:]


def test_a_web_server_that_dies_at_start_fails_make_run_and_stops_the_others(tmp_path):
    # The port was free when checked; the web server fails anyway (here: a missing config file).
    missing = tmp_path / "missing.conf.py"
    code, output = _make_run(tmp_path, PORT=closed_port(), GUNICORN_CMD_ARGS=f"--config {missing}")
    assert code != 0, output[-4000:]
    assert "web.1 stopped (rc=1)" in output, output[-4000:]
    for name in ("worker.1", "beat.1"):
        assert f"{name} stopped" in output, output[-4000:]
