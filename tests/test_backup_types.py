"""A dump value that does not fit its column refuses the restore, on every engine, naming it."""

import json

import pytest

from app.backup.errors import RestoreFailed
from app.backup.system import create_backup, restore_backup
from app.dumps.dump import load_database
from app.extensions import db
from app.models import Site
from tests.backupkit import full_state, rebuild, unpack

pytestmark = pytest.mark.integration

# table file, column, bad value, what the error says
CASES = {
    "string in an integer column": ("users", "id", "7", "expected an integer, found str '7'"),
    "number in a boolean column": ("pages", "published", 1, "expected a boolean, found int 1"),
    "over-long string": ("sites", "subdomain", "x" * 64, "at most 63 characters"),
    "list where the model holds an object": ("sites", "theme", [], "a JSON object, found list"),
    "object in a string column": ("sites", "title", {"a": 1}, "expected a string of at most"),
    "not a datetime": ("sites", "created_at", "yesterday", "column created_at: Invalid"),
    "NULL in a NOT NULL column": ("sites", "title", None, "NULL in a NOT NULL column"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_value_of_the_wrong_type_refuses_the_restore(any_app, make, tmp_path, case):
    table, column, value, message = CASES[case]
    make.page(make.site(), blocks=[("text", {"html": "x"})])
    outcome = create_backup(any_app.config, db.engine)
    manifest, files = unpack(outcome.path, tmp_path / "unpacked")
    edited = []
    for name, data in files:
        if name.endswith(f"-{table}.jsonl"):
            rows = [json.loads(line) for line in data.splitlines()]
            rows[0][column] = value
            data = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        edited.append((name, data))
    rebuild(outcome.path, manifest, edited)
    make.site(subdomain="made-after-the-backup")
    before = full_state(any_app.config)

    with pytest.raises(RestoreFailed) as refused:
        restore_backup(any_app.config, db.engine, outcome.backup_id, allow_unauthenticated=True)
    assert f"table {table}, row 1, column {column}: " in str(refused.value)
    assert message in str(refused.value)
    assert full_state(any_app.config) == before


def test_loading_holds_a_bounded_amount_of_the_dump(app, make, tmp_path):
    """300 rows of 100 KB (30 MB of dump) load in batches of a few MB, not all at once."""
    import tracemalloc

    table = Site.__table__
    owner = make.user()
    path = tmp_path / "sites.jsonl"
    row = {c.name: None for c in table.columns}
    with open(path, "w") as out:
        for n in range(1, 301):
            row.update(
                id=n,
                subdomain=f"s{n}",
                owner_id=owner.id,
                title="t",
                theme={"blob": "x" * 100_000},
                created_at="2025-01-01T00:00:00.000000",
                updated_at="2025-01-01T00:00:00.000000",
            )
            out.write(json.dumps(row) + "\n")
    with db.engine.connect() as conn:
        trans = conn.begin()
        tracemalloc.start()
        load_database(conn, [(table, path)])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        trans.rollback()
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a 30 MB dump"
