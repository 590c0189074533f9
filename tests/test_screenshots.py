"""`python -m docs.screenshots` retakes the pictures in docs/ from the demo, so none goes stale."""

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, clean_env
from tests.support.chromium import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _png_size(path):
    """Return (width, height) of a PNG file, checking its signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_the_script_takes_every_screenshot_the_docs_show(tmp_path):
    pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    done = subprocess.run(
        [sys.executable, "-m", "docs.screenshots", "--out", str(tmp_path)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _png_size(tmp_path / "site-export.png") == (1000, 700)
    width, height = _png_size(tmp_path / "backups-page.png")
    assert width == 1000
    assert height > 900  # the whole page
    shown = {p.name for p in (ROOT / "docs").glob("*.png")}
    assert shown == {p.name for p in tmp_path.glob("*.png")}  # every picture in docs/ is retaken
