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


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path, modules):
    """Return the modules of app/ that ``path`` imports when it runs, at any depth of the file.

    ``from app.x import y`` names ``app.x.y`` when that is a module, else ``app.x``;
    imports only a type checker reads (under ``if TYPE_CHECKING:``) do not count.
    """
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(inner) for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            inner = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= inner
            if len(inner) < len(node.names) and node.module in modules:
                found.add(node.module)
    return found


def import_loops():
    """Return every loop of imports among the modules of app/, each as a sorted list of names."""
    paths = {_module_name(p): p for p in APP.rglob("*.py")}
    graph = {name: _runtime_imports(path, set(paths)) - {name} for name, path in paths.items()}
    loops, order, low, stack, counter = [], {}, {}, [], [0]

    def visit(start):  # Tarjan's strongly connected components, without recursion
        work = [(start, iter(sorted(graph[start])))]
        order[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in order:
                    order[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], order[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    loops.append(sorted(group))

    for name in sorted(graph):
        if name not in order:
            visit(name)
    return loops


def test_no_module_of_app_imports_itself_round_a_loop():
    """Every module of app/ (media, config, demo and the factory included), lazy imports too."""
    assert import_loops() == []
