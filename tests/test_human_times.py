"""Times for people read one way everywhere ("2026-12-04 13:53 UTC"); machines get ISO 8601."""

import datetime as dt
import html
import re

import pytest

from app.backup.runs import run_backup
from app.exports.jobs import request_export_job
from app.extensions import db
from app.humanize import human_time

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
SHOWN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?")


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 12, 4, 13, 53, 53, 123456),
        dt.datetime(2026, 12, 4, 13, 53, 53, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 4, 18, 53, 53, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        "2026-12-04T13:53:53.123456Z",
        "2026-12-04T13:53:53",
        "2026-12-04T15:53:53+02:00",
    ],
)
def test_every_kind_of_time_reads_the_same(moment):
    assert human_time(moment) == "2026-12-04 13:53 UTC"


def test_no_time_reads_as_a_dash():
    assert human_time(None) == "—"


def _shown_times(text):
    """Return the times ``text`` shows; fail on any ISO 8601 time in it."""
    assert not ISO.search(text), ISO.search(text).group(0)
    times = [m.group(0) for m in SHOWN.finditer(text)]
    for shown in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", shown), shown
    return times


def test_backup_status_shows_every_time_one_way(app, make):
    make.site()
    run_backup(app.config, db.engine, trigger="cli")
    result = app.test_cli_runner().invoke(args=["backup", "status"])
    times = _shown_times(result.output)
    assert len(times) >= 2  # the last run and the next run at least


def _visible(page):
    """The text a person sees on an HTML page (no tags, no scripts, no attributes)."""
    page = re.sub(r"(?s)<script.*?</script>", "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_pages_show_every_time_one_way(app, make, login_as):
    admin = make.user(admin=True)
    site = make.site(owner=admin)
    run_backup(app.config, db.engine, trigger="cli")
    request_export_job(db.session, site.id, admin.id, stuck_after=3600)
    client = login_as(admin)
    backups = client.get("/admin/backups")
    assert backups.status_code == 200
    assert len(_shown_times(_visible(backups.get_data(as_text=True)))) >= 2
    page = client.get(f"/admin/sites/{site.id}")
    assert page.status_code == 200
    assert len(_shown_times(_visible(page.get_data(as_text=True)))) >= 1  # the export's time
