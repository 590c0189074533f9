"""The tests' own layout: shared helpers live in kits and tests/support/, never in a test module.

A test module that imports another one runs (or skips) that module's import
side effects and hides which helpers are shared; a fixture imported by name
needs a ``noqa`` and shadows itself in every test that asks for it. Fixtures
shared between modules are registered in conftest.py instead.
"""

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
NOQA = re.compile(r"#\s*noqa:[^#\n]*\b(F401|F811)\b")


def python_files():
    return sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.relative_to(TESTS).parts)


def imported_test_modules(tree):
    """Yield the names of test modules ``tree`` imports, however it spells the import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(filter(None, ["tests" * (node.level > 0), node.module]))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        yield from (n for n in names if re.search(r"(^|\.)test_\w+$", n))


def test_no_module_of_the_tests_imports_a_test_module():
    wrong = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in python_files()
        for name in imported_test_modules(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert wrong == [], "move shared helpers to tests/support/:\n" + "\n".join(wrong)


def test_no_fixture_is_imported_past_the_linter():
    """``noqa: F811`` only ever hides a fixture shadowed by its import; F401 may only keep
    a module imported for its side effects (``import app.models``), never a name."""
    wrong = []
    for path in python_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found = NOQA.search(line)
            if found and (found.group(1) == "F811" or not line.lstrip().startswith("import ")):
                wrong.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert wrong == [], "register shared fixtures in tests/conftest.py:\n" + "\n".join(wrong)


def test_shared_fixtures_are_registered_in_conftest():
    """A module outside conftest and the test modules that defines fixtures is a plugin."""
    conftest = ast.parse((TESTS / "conftest.py").read_text(encoding="utf-8"))
    plugins = next(
        ast.literal_eval(node.value)
        for node in conftest.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "pytest_plugins"
    )
    defining = set()
    for path in python_files():
        if path.name == "conftest.py" or path.name.startswith("test_"):
            continue
        source = path.read_text(encoding="utf-8")
        if re.search(r"^@pytest\.fixture", source, re.M):
            relative = path.relative_to(TESTS.parent).with_suffix("")
            defining.add(".".join(relative.parts))
    assert defining <= set(plugins), sorted(defining - set(plugins))
