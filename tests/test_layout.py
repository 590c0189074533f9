"""The architecture holds: every import points down, and the archive format stands alone."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
# Layers from the top; a module may import its own layer's package and any lower one.
ENTRY = ("app.blueprints", "app.commands", "app.tasks")
CAPABILITIES = ("app.backup", "app.exports")
MIDDLE = ("app.sitedata", "app.coordination")
ABOVE = {
    "app.archive": ("app.", "flask", "flask_sqlalchemy", "sqlalchemy", "celery", "alembic"),
    "app.backup": (*ENTRY, "app.exports"),
    "app.exports": (*ENTRY, "app.backup"),
    "app.sitedata": (*ENTRY, *CAPABILITIES, "app.coordination"),
    "app.coordination": (*ENTRY, *CAPABILITIES, "app.sitedata", "app.dumps"),
    "app.dumps": (*ENTRY, *CAPABILITIES, *MIDDLE),
    "app.storage": ("app.", "flask", "flask_sqlalchemy", "sqlalchemy", "celery", "alembic"),
    "app.models": (*ENTRY, *CAPABILITIES, *MIDDLE, "app.dumps"),
}
# Packages without a face: the ways in (nothing imports them but the entry points) and the
# engines' loaders, which only their own package's load uses.
FACELESS = {"app", *ENTRY, "app.dumps.loaders"}
MAP = ROOT / "docs" / "development.md"
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


def _packages():
    return {_module_name(p): p for p in APP.rglob("__init__.py")}


def _face_names(path):
    """Return the names a package's ``__init__`` lists in ``__all__``."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def test_every_package_has_a_face_and_others_import_only_faces():
    """Outside a package, import its ``__init__`` (or a sub-package's), never a module inside.

    A module the face itself lists in ``__all__`` (a job module read as a namespace,
    ``webjobs.run_job``) counts as part of the face.
    """
    packages = _packages()
    faced = {name: _face_names(path) for name, path in packages.items() if name not in FACELESS}
    assert [name for name, names in faced.items() if not names] == []
    modules = {_module_name(p) for p in APP.rglob("*.py")}
    wrong = []
    for path in [*APP.rglob("*.py"), ROOT / "cli.py", ROOT / "worker.py"]:
        importer = _module_name(path)
        for name in _runtime_imports(path, modules) | _typing_imports(path, modules):
            if name in faced:
                continue
            parent, _, leaf = name.rpartition(".")
            inner = [f for f in faced if name.startswith(f + ".") and not _inside(importer, f)]
            if inner and not (parent in faced and leaf in faced[parent] and parent in inner):
                wrong.append(f"{importer} imports {name}, behind the face of {max(inner)}")
    assert not wrong, "\n".join(sorted(wrong))


def _inside(module, package):
    return module == package or module.startswith(package + ".")


def _typing_imports(path, modules):
    """The modules of app/ imported under ``if TYPE_CHECKING:`` (faces hold there too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                    names = {f"{inner.module}.{a.name}" for a in inner.names} & modules
                    found |= names or ({inner.module} & modules)
    return found


def _map_sections():
    """Return {package path: the text of its entry} from the package map of development.md."""
    text = MAP.read_text()
    block = text.split("## The package map", 1)[1].split("```", 2)[1]
    sections, current, stack = {}, None, []
    for line in block.splitlines():
        head = line.split()[0] if line.strip() else ""
        indent = len(line) - len(line.lstrip())
        if head.endswith("/") and indent < 16:
            depth = indent // 2
            stack = [*stack[:depth], head.rstrip("/")]
            current = "/".join(stack)
            sections[current] = line[indent + len(head) :]
        elif current is not None and line.startswith(" " * 16):
            sections[current] += " " + line.strip()
        else:
            current = None
    return sections


def test_the_package_map_names_every_module_of_app():
    """Each module is named in its package's entry, before "(", ",", " and " or the end."""
    sections = _map_sections()
    missing = []
    for path in sorted(APP.rglob("*.py")):
        folder = path.parent.relative_to(ROOT).as_posix()
        if path.name == "__init__.py":
            if folder not in sections:
                missing.append(f"{folder}/ has no entry")
            continue
        named = rf"(?<![\w.'/-]){path.stem}(\.py)?(?= \(|,| and |$)"
        if not re.search(named, sections.get(folder, "").strip()):
            missing.append(f"{path.relative_to(ROOT)} is not named under {folder}/")
    stale = [f"{folder}/ names no package" for folder in sections if not (ROOT / folder).is_dir()]
    assert not missing + stale, "\n".join(missing + stale)
