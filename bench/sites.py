"""``python -m bench.sites``: one site's import and restore, against exporting that site.

- import: ``import_site`` of the typical site's own export over that site
  (function level: archive checked, extracted, every JSON checked, loaded), and
  with ``--clicks`` the web flow in Chromium (bench/restoreclicks.py);
- restore: ``restore_site`` of one site from the medium corpus's system backup,
  beside ``export_site`` of the same site in the same run (the target: under 2x).

Each operation runs in a fresh process (bench/probe.py); medians are printed.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench.__main__ import CORPORA, ROOT, build_corpus, probe, summary, warm


def _first_subdomain(data_dir):
    import sqlite3

    with sqlite3.connect(data_dir / "stinkykitty.db") as conn:
        return conn.execute("SELECT id, subdomain FROM sites ORDER BY id LIMIT 1").fetchone()


def measure_import(data_dir, runs):
    """Export the corpus's first site once, then import it over that site ``runs`` times."""
    site_id, subdomain = _first_subdomain(data_dir)
    archive = Path(probe("export", data_dir, site_id)["result"]["path"])
    seconds = []
    for _ in range(runs):
        warm(archive)
        seconds.append(probe("site_import", data_dir, archive, subdomain)["seconds"])
    size = archive.stat().st_size
    archive.unlink()
    return {"subdomain": subdomain, "archive_bytes": size, "import": summary(seconds)}


def measure_restore(data_dir, runs):
    """Back up the corpus once; then export its first site and restore it from the backup."""
    site_id, subdomain = _first_subdomain(data_dir)
    backup = probe("backup", data_dir)["result"]
    exports, restores = [], []
    for _ in range(runs):
        warm(data_dir / "uploads")
        e = probe("export", data_dir, site_id)
        exports.append(e["seconds"])
        Path(e["result"]["path"]).unlink()
        restores.append(probe("site_restore", data_dir, backup["id"], subdomain)["seconds"])
    Path(backup["path"]).unlink()
    ratio = summary(restores)["median"] / summary(exports)["median"]
    return {"export": summary(exports), "site_restore": summary(restores), "ratio": ratio}


def main(argv=None):
    """Run both measurements and print a JSON report."""
    parser = argparse.ArgumentParser(prog="python -m bench.sites", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--quick", action="store_true", help="the tiny corpus for both")
    parser.add_argument("--clicks", action="store_true", help="also click to done (needs Redis)")
    opts = parser.parse_args(argv)
    opts.out.mkdir(parents=True, exist_ok=True)
    typical = build_corpus(opts.out, "quick" if opts.quick else "typical")
    medium = build_corpus(opts.out, "quick" if opts.quick else "medium")
    results = {
        "corpora": {
            "import": CORPORA["quick" if opts.quick else "typical"],
            "restore": CORPORA["quick" if opts.quick else "medium"],
        },
        "import": measure_import(typical, opts.runs),
        "restore": measure_restore(medium, opts.runs),
    }
    if opts.clicks:
        from bench.__main__ import REDIS_URL
        from bench.restoreclicks import click_to_done

        clicks = click_to_done(typical, REDIS_URL, opts.runs)
        results["import"]["upload_to_preview"] = summary(clicks["upload_to_preview"])
        results["import"]["confirm_to_done"] = summary(clicks["confirm_to_done"])
    (opts.out / "sites.json").write_text(json.dumps(results, indent=1))
    json.dump(results, sys.stdout, indent=1)
    print()
    shutil.rmtree(opts.out / "sites-scratch", ignore_errors=True)


if __name__ == "__main__":
    main()
