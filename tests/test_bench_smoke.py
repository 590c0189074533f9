"""The bench still runs: every module imports, and ``python -m bench --quick`` writes its report.

Nothing is measured here (speed is the bench's business, never a test's); the
test only keeps the bench from rotting as the code it drives changes.
"""

import importlib
import json
import subprocess
import sys

import pytest

from tests.processes import ROOT, clean_env

BENCH = ROOT / "bench"


def bench_modules():
    return sorted(f"bench.{path.stem}" for path in BENCH.glob("*.py"))


@pytest.mark.parametrize("name", bench_modules())
def test_every_bench_module_imports(name):
    assert importlib.import_module(name).__doc__


@pytest.mark.integration
def test_the_quick_bench_runs_every_path_once_and_reports(tmp_path):
    """The tiny corpus through export, backup, restore, the anchors and MariaDB, one run each."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--runs", "1", "--out", str(out)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.strip() in done.stdout  # it prints the report it writes
    results = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert results["quick"]["backup_id"]
    for row in ("quick corpus", "MariaDB", "PostgreSQL", "Restore"):
        assert row in report, row
