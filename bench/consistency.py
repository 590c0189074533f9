"""``python -m bench.consistency``: what consistency costs a backup, a restore and a login.

Measures, on SQLite in a temporary data dir, with ``--files`` media files:

* deferred deletion: the backup's extra work for media waiting in the trash
  (walking the trash, reading the media rows to keep only referenced files),
  against a whole backup; and a deletion (rename to the trash) against an unlink;
* the journal: writing it (fsynced), marking the transaction and removing it,
  against a whole restore; and the check every process makes at start;
* the pause: registering a task as running, against nothing;
* a failed login for a known and an unknown email (the two should match).

Prints one JSON object; ``--out FILE`` writes it too.
"""

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _median(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(files, repeat):
    """Return the measurements as a dict (seconds unless named otherwise)."""
    from app import create_app, init_migrations
    from app.backup import mediasnap
    from app.backup.restore import journal
    from app.backup.system import create_backup, restore_backup
    from app.config import Config
    from app.coordination import running, trash
    from app.extensions import db
    from app.media import add_media, delete_media
    from app.models import MediaItem, Site, User

    data = Path(tempfile.mkdtemp(prefix="bench-consistency-"))
    environ = {"STINKY_DATA_DIR": str(data), "SECRET_KEY": "bench"}
    unthrottled = "100000 per minute"  # timing logins, not the throttle
    config = Config(
        environ=environ,
        LOGIN_FAILURES_PER_ACCOUNT=unthrottled,
        LOGIN_FAILURES_PER_ADDRESS=unthrottled,
        WTF_CSRF_ENABLED=False,
    )
    app = create_app(config)
    init_migrations(app)
    out = {"files": files, "repeat": repeat}
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        user = User(email="known@example.org")
        user.set_password("right password")
        db.session.add(user)
        db.session.flush()
        site = Site(subdomain="bench", title="Bench", owner_id=user.id)
        db.session.add(site)
        db.session.commit()
        for n in range(files):
            add_media(site, io.BytesIO(os.urandom(4096)), f"f{n}.jpg")
        db.session.commit()

        def backup():
            return create_backup(app.config, db.engine, skip_unchanged=False)

        out["backup"] = _median(backup, repeat)
        # A tenth of the media deleted: their files wait in the trash.
        doomed = db.session.scalars(db.select(MediaItem).limit(files // 10)).all()
        for item in doomed:
            delete_media(item)
        db.session.commit()
        # The file side of a deletion: a rename into the trash, against an unlink.
        scratch = data / "uploads" / "0"
        scratch.mkdir()
        names = [f"scratch-{n}" for n in range(len(doomed))]
        for name in names:
            (scratch / name).write_bytes(b"x" * 4096)
        start = time.perf_counter()
        for name in names:
            trash.move_to_trash(app.config, f"0/{name}")
        out["move_to_trash_per_file"] = (time.perf_counter() - start) / len(names)
        start = time.perf_counter()
        for name in names:
            (trash.trash_dir(app.config) / "0" / name).unlink()
        out["unlink_per_file"] = (time.perf_counter() - start) / len(names)

        out["backup_with_trash"] = _median(backup, repeat)
        links = data / ".bench-links"
        dump_dir = data / "bench-dump"
        dump_dir.mkdir()
        from app.dumps.dump import dump_database

        dump = dump_database(db.engine, dump_dir, db.metadata.sorted_tables)
        media_rows = next(t.path for t in dump.tables if t.table == "media_items")

        def trash_part():
            import shutil

            shutil.rmtree(links, ignore_errors=True)
            found = mediasnap.snapshot_media(data / "nothing", links, trash.trash_dir(app.config))
            mediasnap.drop_unreferenced_trash(found, media_rows)

        out["deferred_deletion_extra"] = _median(trash_part, repeat)
        out["deferred_deletion_share_of_backup"] = (
            out["deferred_deletion_extra"] / out["backup_with_trash"]
        )
        empty = data / "empty-trash"
        empty.mkdir()
        out["deferred_deletion_extra_empty_trash"] = _median(
            lambda: mediasnap.snapshot_media(data / "nothing", links, empty), 100
        )

        backup_id = create_backup(app.config, db.engine, skip_unchanged=False).backup_id
        out["restore"] = _median(lambda: restore_backup(app.config, db.engine, backup_id), repeat)

        def journal_part():
            with db.engine.connect() as conn:
                trans = conn.begin()
                token = journal.write_journal(app.config, "bench", data / "aside", data / "x")
                journal.mark(conn, token)
                trans.rollback()
            journal.remove_journal(app.config)

        journal.prepare_marks(db.engine)
        out["journal_extra"] = _median(journal_part, max(repeat, 10))
        out["journal_share_of_restore"] = out["journal_extra"] / out["restore"]
        out["startup_check_without_journal"] = _median(
            lambda: journal.recover_at_startup(app.config, db.engine), 100
        )

        def register():
            with running.site_data_work(app.config, "bench", "t"):
                pass

        out["task_registration"] = _median(register, 100)

        client = app.test_client()

        def login(email):
            def attempt():
                answer = client.post("/login", data={"email": email, "password": "wrong"})
                assert answer.status_code == 401, answer.status_code

            return attempt

        login("nobody@example.org")()  # the dummy hash is made once per process
        for _ in range(3):  # interleaved, so load on the machine hits both alike
            for kind, email in (("known", "known@example.org"), ("unknown", "nobody@example.org")):
                key = f"failed_login_{kind}_email"
                out.setdefault(key, []).append(_median(login(email), repeat))
        for kind in ("known", "unknown"):
            key = f"failed_login_{kind}_email"
            out[key] = statistics.median(out[key])
    return out


def main(argv=None):
    """Measure and print the results as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.consistency", description=__doc__)
    parser.add_argument("--files", type=int, default=2000, help="media files (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = measure(args.files, args.repeat)
    text = json.dumps(
        {k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}, indent=2
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
