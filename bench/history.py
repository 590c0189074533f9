"""``python -m bench.history``: list a site's history with 30 kept backups of the large corpus.

A scratch copy of the large corpus (6 sites, 100k blocks, 1000 MiB of media:
its database copied, its media hard-linked, so the corpus itself is never
changed) is backed up once for real. Then, 29 times, site 1 is edited as a
night's work might be (a page retitled every third night, one deleted every
fifth) and a backup of that night is kept: the real archive hard-linked under
the night's id, with the site index a backup would write (the whole database
dumped and indexed as a backup does; see ``bench.ops.history_night``).
Listing reads indexes only, never an archive, so the copies cost no disk.
Then, in fresh processes, it times ``site_history`` for site 1 (target
< 0.5 s), the part of it that dumps the site's live rows, and ``flask site
history`` as a process, and, as the reference of the same run, listing the
backups as ``flask backup list`` does (each archive's manifest read). Medians
are printed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from app.config import BACKUP_KEY_FILE
from bench.__main__ import CORPORA, PY, ROOT, build_corpus, probe, summary

KEPT = 30


def _site(data_dir):
    import sqlite3

    with sqlite3.connect(data_dir / "stinkykitty.db") as conn:
        return conn.execute("SELECT id, subdomain FROM sites WHERE id = 1").fetchone()


def keep_backups(data_dir, kept):
    """Back up the corpus once, then keep ``kept - 1`` nightly backups of edits; return the ids."""
    first = probe("backup", data_dir)["result"]
    ids = [first["id"]]
    for night in range(1, kept):
        ids.append(probe("history_night", data_dir, first["path"], night)["result"]["id"])
    return ids


def time_cli(data_dir, subdomain):
    """Return the seconds ``flask site history SUBDOMAIN`` takes as a process."""
    start = time.perf_counter()
    subprocess.run(
        [PY, "-m", "flask", "--app", "app", "site", "history", subdomain],
        check=True,
        cwd=ROOT,
        env={**os.environ, "STINKY_DATA_DIR": str(data_dir)},
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def scratch_copy(corpus, scratch):
    """Return a data dir at ``scratch`` with the corpus's database copied and media hard-linked."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for name in ("stinkykitty.db", BACKUP_KEY_FILE, "secret_key"):
        if (corpus / name).exists():
            shutil.copy2(corpus / name, scratch / name)
    subprocess.run(["cp", "-al", str(corpus / "uploads"), str(scratch / "uploads")], check=True)
    return scratch


def measure(data_dir, runs, kept):
    """Keep the backups, then time the listing, its live part and the command."""
    site_id, subdomain = _site(data_dir)
    ids = keep_backups(data_dir, kept)
    listings, live, cli, rss, shape, lists = [], [], [], [], None, []
    for _ in range(runs):
        listed = probe("site_history", data_dir, site_id, subdomain)
        listings.append(listed["seconds"])
        rss.append(listed["peak_kb"] - listed["idle_kb"])
        shape = listed["result"]
        rows = probe("site_live_index", data_dir, site_id)
        live.append(rows["seconds"])
        shape.update(rows["result"])
        cli.append(time_cli(data_dir, subdomain))
        lists.append(probe("backup_list", data_dir)["seconds"])
    return {
        "kept": len(ids),
        "history": shape,
        "listing": summary(listings),
        "listing_rss_kb": summary(rss),
        "live_rows": summary(live),
        "cli_process": summary(cli),
        "backup_list": summary(lists),
        "ratio": summary(listings)["median"] / summary(lists)["median"],
    }


def main(argv=None):
    """Run the measure and print a JSON report."""
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kept", type=int, default=KEPT, help="backups kept (default 30)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--quick", action="store_true", help="the tiny corpus")
    opts = parser.parse_args(argv)
    opts.out.mkdir(parents=True, exist_ok=True)
    name = "quick" if opts.quick else "large"
    scratch = scratch_copy(build_corpus(opts.out, name), opts.out / "history-scratch")
    try:
        results = {"corpus": CORPORA[name], **measure(scratch, opts.runs, opts.kept)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (opts.out / "history.json").write_text(json.dumps(results, indent=1))
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
