"""`make run` starts web, worker and beat; Ctrl-C stops all three cleanly, and make stays quiet."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, clean_env
from tests.schedulekit import closed_port, log_tail, wait_for

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
