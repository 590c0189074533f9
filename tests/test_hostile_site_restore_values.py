"""A one-site restore reads any value of a backup's dump without an exception of its own.

Whatever one column of the dump holds, reading the site out of it
(``read_site_rows``) and loading it (the site loader) either loads the site
or refuses with one line of the loaders' own errors (naming table, row and
column, or the record and field), and a refusal changes nothing, on every
engine.
"""

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from app.archive.errors import ArchiveError
from app.backup.errors import BackupError
from app.exports.errors import ExportError
from app.extensions import db
from app.models import Site
from app.sitedata.fromdump import read_site_rows
from app.sitedata.loader import load_site
from tests.backupkit import database_state, media_state
from tests.hostilekit import BASE_ROWS, hostile_texts, in_range_int, is_key, line, targeted_texts

pytestmark = pytest.mark.integration

TABLES = db.metadata.sorted_tables
COLUMNS = [(t, c) for t in TABLES for c in t.columns if t.name != "export_jobs"]


def write_backup(staging, table_name, column_name, text):
    """Write the extracted dump and the one media file of site "camp" into ``staging``."""
    (staging / "db").mkdir()
    for index, table in enumerate(TABLES, 1):
        hit = table.name == table_name
        data = line(BASE_ROWS[table.name], column_name if hit else None, text if hit else None)
        (staging / "db" / f"{index:03d}-{table.name}.jsonl").write_bytes(data)
    (staging / "uploads" / "1").mkdir(parents=True)
    (staging / "uploads" / "1" / BASE_ROWS["media_items"]["stored_name"]).write_bytes(b"png")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(where=st.sampled_from(COLUMNS), data=st.data())
def test_a_one_site_restore_loads_any_value_or_refuses_it_by_name(
    any_app, make, tmp_path_factory, where, data
):
    table, column = where
    text = data.draw(hostile_texts | targeted_texts(column), label="value")
    dialect = db.engine.dialect.name
    assume(not (is_key(column) and in_range_int(text, column, dialect)))
    if db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("users"))) == 0:
        make.user(email="owner@example.org")
    staging = tmp_path_factory.mktemp("staging")
    write_backup(staging, table.name, column.name, text)
    live = db.session.scalar(sa.select(Site.id).where(Site.subdomain == "camp"))
    db.session.remove()
    before = (database_state(), media_state(any_app.config))

    try:
        rows = read_site_rows(staging, "camp")
        load_site(any_app.config, db.engine, rows, replace_site_id=live, keep_ids=True)
    except (ArchiveError, BackupError, ExportError) as exc:  # the readers' and loader's own
        event("refused")
        message = str(exc)
        assert "\n" not in message
        assert (database_state(), media_state(any_app.config)) == before
    else:
        event("loaded")
