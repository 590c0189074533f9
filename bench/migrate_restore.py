"""Restore through three migrations against a same-revision restore of the same backup.

    python -m bench.migrate_restore [--corpus medium] [--runs 3] [--out DIR]

Builds (or reuses) a corpus of ``bench/__main__.py``, backs it up once, then
restores that backup over and over into two SQLite data dirs: one at our
head schema (a plain restore), one three migrations further (the first three
of tests/migrations_extra: a column with a server default, a NOT NULL column
filled by a data migration, a rename), where the restore loads a scratch copy
at the backup's revision, migrates it and dumps it again before the swap.
Prints the median of each and their ratio (the target: under 1.5x), and
writes them to ``DIR/migrate-restore-<corpus>.json`` (default DIR: bench/out).
"""

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from bench.__main__ import CORPORA, ROOT, build_corpus, flask

CHAIN = ROOT / "tests" / "migrations_extra" / "versions"
THREE = ("x1_site_visits.py", "x2_page_block_count.py", "x3_menu_href.py")


def make_target(out, corpus_dir, name, extra_versions):
    """Return an app on a fresh data dir at head (plus ``extra_versions``) holding the backup."""
    from flask_migrate import upgrade as flask_upgrade

    from app import create_app, init_migrations
    from app.backup.restore import upgrade
    from app.config import Config
    from app.extensions import db

    data_dir = out / name
    shutil.rmtree(data_dir, ignore_errors=True)
    (data_dir / "backups").mkdir(parents=True)
    shutil.copytree(corpus_dir / "backups" / "system", data_dir / "backups" / "system")
    environ = {"STINKY_DATA_DIR": str(data_dir), "SECRET_KEY": "bench"}
    app = create_app(Config(environ=environ, MIGRATION_EXTRA_VERSIONS=extra_versions))
    init_migrations(app)
    with app.app_context():
        flask_upgrade()
        upgrade.migrate(app.config, db.engine, "heads")
    return app


def time_restores(app, backup_id, runs):
    """Return the seconds of ``runs`` restores of ``backup_id`` into ``app``."""
    from app.backup.system import restore_backup
    from app.extensions import db

    seconds = []
    with app.app_context():
        for _ in range(runs):
            start = time.perf_counter()
            restore_backup(app.config, db.engine, backup_id)
            seconds.append(time.perf_counter() - start)
        db.session.remove()
        db.engine.dispose()
    return seconds


def main():
    """Measure and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="medium", choices=sorted(CORPORA))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(out, args.corpus)
    shutil.rmtree(corpus / "backups" / "system", ignore_errors=True)
    flask(corpus, "backup", "create", "--force")
    backup_id = sorted((corpus / "backups" / "system").glob("stinkykitty-*.tar.gz"))[-1]
    backup_id = backup_id.name.removesuffix(".tar.gz")

    chain = out / "three-migrations"
    shutil.rmtree(chain, ignore_errors=True)
    chain.mkdir()
    for name in THREE:
        shutil.copyfile(CHAIN / name, chain / name)
    same_app = make_target(out, corpus, "restore-same", [])
    migrated_app = make_target(out, corpus, "restore-migrated", [chain])
    same, migrated = [], []
    for _ in range(args.runs):  # alternate, so drift on a shared machine hits both alike
        same += time_restores(same_app, backup_id, 1)
        migrated += time_restores(migrated_app, backup_id, 1)
    result = {
        "corpus": args.corpus,
        "same_revision_s": statistics.median(same),
        "through_3_migrations_s": statistics.median(migrated),
        "runs": {"same": same, "migrated": migrated},
    }
    result["ratio"] = result["through_3_migrations_s"] / result["same_revision_s"]
    (out / f"migrate-restore-{args.corpus}.json").write_text(json.dumps(result, indent=1))
    print(
        f"{args.corpus}: same-revision restore {result['same_revision_s']:.2f} s, through 3 "
        f"migrations {result['through_3_migrations_s']:.2f} s: {result['ratio']:.2f}x"
    )


if __name__ == "__main__":
    main()
