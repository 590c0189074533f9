"""The architecture holds: every import points down, and the archive format stands alone."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
# Layers from the top; a module may import its own layer's package and any lower one.
ABOVE = {
    "app.archive": ("app.", "flask", "flask_sqlalchemy", "sqlalchemy", "celery", "alembic"),
    "app.backup": ("app.blueprints", "app.commands", "app.tasks", "app.exports"),
    "app.exports": ("app.blueprints", "app.commands", "app.tasks", "app.backup"),
    "app.storage": ("app.", "flask", "flask_sqlalchemy", "sqlalchemy", "celery", "alembic"),
    "app.models": ("app.blueprints", "app.commands", "app.tasks", "app.backup", "app.exports"),
}
MAX_LINES = 420
# The app's root error imports nothing, so every layer may import it (docs/backups.md).
ROOT_ERROR = "app.errors"


def imports_of(path):
    """Yield every module name ``path`` imports, at any depth of the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def modules_under(package):
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ABOVE))
def test_imports_point_down(package):
    wrong = []
    for path in modules_under(package):
        for name in imports_of(path):
            if name.startswith(package) or name == ROOT_ERROR:
                continue
            if any(name == bad.rstrip(".") or name.startswith(bad) for bad in ABOVE[package]):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_root_error_imports_nothing():
    assert not list(imports_of(ROOT / "app" / "errors.py"))


def test_no_module_in_app_holds_two_ideas():
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in APP.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, "\n".join(long)
