"""How long the modules of app/ are: printed after every test run (tests/conftest.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
APP = ROOT / "app"
SIZE_TO_READ_AGAIN = 400  # lines: a module this long is worth a look for a seam (not a limit)


def module_sizes():
    """Return (lines, path relative to the root) of every module in app/, longest first.

    Printed at the end of every test run (tests/conftest.py): a size is a signal to
    read a module again for a seam between two ideas, never a number to squeeze under.
    """
    sizes = [(len(p.read_text().splitlines()), str(p.relative_to(ROOT))) for p in APP.rglob("*.py")]
    return sorted(sizes, reverse=True)
