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
# The app's root error imports nothing, so every layer may import it (docs/backups.md).
ROOT_ERROR = "app.errors"


def imports_of(path):
    """Yield every module name ``path`` imports, at any depth of the file.

    ``from app import x`` yields ``app`` (the package's own ``__init__``), unless
    ``x`` is a module of the package, which it then names (``from app import tasks``).
    """
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [
                f"{node.module}.{a.name}" for a in node.names if _is_module(node.module, a.name)
            ]
            yield from modules or [node.module]


def _is_module(package, name):
    folder = ROOT / package.replace(".", "/")
    return (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists()


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
            elif name == "app":  # the factory's package: it imports every layer, so a loop
                wrong.append(f"{path.relative_to(ROOT)} imports the app package itself")
    assert not wrong, "\n".join(wrong)


def test_ruff_formats_all_of_app_but_tables():
    """`# fmt: skip` only closes a table at the top of a module (a literal ruff would stretch)."""
    wrong = []
    for path in APP.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "fmt: skip" in line and not (line.startswith(("}", ")")) and "# fmt: skip" in line):
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_the_root_error_imports_nothing():
    assert not list(imports_of(ROOT / "app" / "errors.py"))
