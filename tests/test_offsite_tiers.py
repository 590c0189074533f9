"""Remote retention with tiers, on a real S3-compatible server: verified-good copies only."""

import datetime as dt

from app.backup import offsite, runs
from app.backup.catalog import backups_dir
from app.backup.offsite.keep import prune_remote
from app.extensions import db
from tests.backupkit import FakeClock
from tests.s3kit import s3_client

# Five nights' runs, in UTC; New York is four hours behind: A and B are on May 31st there.
TIMES = {
    "A": dt.datetime(2026, 6, 1, 2, 0),
    "B": dt.datetime(2026, 6, 1, 3, 30),
    "C": dt.datetime(2026, 6, 1, 5, 0),
    "D": dt.datetime(2026, 6, 2, 5, 0),
    "E": dt.datetime(2026, 6, 2, 6, 0),
}


def remote_ids(app):
    return [c["backup_id"] for c in offsite.remote_copies(app.config)]


def test_remote_tiers_keep_the_newest_copy_of_each_day_in_the_zone(make_app, make, s3_config):
    app = make_app(
        BACKUP_REMOTE_KEEP=1,
        BACKUP_REMOTE_KEEP_DAILY=2,
        BACKUP_TIMEZONE="America/New_York",
        **s3_config,
    )
    with app.app_context():
        make.user()
        ids, pruned = {}, {}
        for name, when in TIMES.items():
            record, outcome = runs.run_backup(
                app.config, db.engine, trigger="cli", clock=FakeClock(when), skip_unchanged=False
            )
            assert record["offsite"] == "ok", record
            ids[name], pruned[name] = outcome.backup_id, record["remote_pruned"]
        # D: June 2nd (D), June 1st (C), May 31st (B) are kept; A is not May 31st's newest.
        assert pruned["D"] == [ids["A"]]
        # E: E is June 2nd's newest now, D goes; in UTC it would be E, C and (oldest) A.
        assert pruned["E"] == [ids["D"]]
        assert remote_ids(app) == [ids["E"], ids["C"], ids["B"]]
        assert len(list(backups_dir(app.config).glob("stinkykitty-*.tar.gz"))) == 5  # all here

        # C's archive changes in the store: it no longer counts. With one day kept besides the
        # newest, C would keep June 1st and B would go; the good B keeps May 31st instead, and
        # C, newer than the oldest kept, stays for a person to look at.
        store = offsite.remote_store(app.config)
        s3_client(app.config["BACKUP_STORAGE_ENDPOINT"]).put_object(
            Bucket=store.bucket, Key=store.key(f"{ids['C']}.tar.gz"), Body=b"not C"
        )
        app.config["BACKUP_REMOTE_KEEP_DAILY"] = 1
        assert prune_remote(app.config, store=store) == []
        assert remote_ids(app) == [ids["E"], ids["C"], ids["B"]]

        # Never fewer verified-good copies than BACKUP_REMOTE_KEEP: two are good, none goes.
        app.config["BACKUP_REMOTE_KEEP_DAILY"] = 0
        assert prune_remote(app.config, keep=3, store=store) == []
        # The newest alone: the rest goes, the copy that no longer counts included.
        assert prune_remote(app.config, keep=1, store=store) == [ids["C"], ids["B"]]
        assert remote_ids(app) == [ids["E"]]
