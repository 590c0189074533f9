"""The version lives in one place, and the changelog says which schema each version has."""

import re
import tomllib
from pathlib import Path

import app as app_package
from app.backup.restore import upgrade

ROOT = Path(__file__).resolve().parent.parent
HEADING = re.compile(r"^## (\S+) — schema (\S+)$", re.M)


def test_pyproject_reads_the_version_from_the_app():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "app.version.__version__"
    }


def test_changelog_names_this_version_and_its_schema_first():
    releases = HEADING.findall((ROOT / "CHANGELOG.md").read_text())
    assert releases[0] == (app_package.__version__, upgrade.head_revision({}))
    known = {rev.revision for rev in upgrade.script_directory({}).walk_revisions()}
    assert {schema for _version, schema in releases} <= known
