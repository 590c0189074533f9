"""``python -m bench``: build reference corpora, measure, and write a report.

Each operation runs several times in a fresh process (see bench/probe.py);
the report gives the median, the spread and the ratio to GNU tar on the same
bytes in the same run, beside each target.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from app.archive import read_manifest
from app.config import BACKUP_KEY_FILE
from bench.report import write_report

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CORPORA = {
    # name: demo seed options
    "typical": {"sites": 1, "pages": 50, "blocks_per_page": 8, "media_mb": 200},
    "medium": {"sites": 3, "pages": 300, "blocks_per_page": 40, "media_mb": 300},
    "large": {"sites": 6, "pages": 400, "blocks_per_page": 42, "media_mb": 1000},
    "huge": {"sites": 12, "pages": 400, "blocks_per_page": 42, "media_mb": 3000},
    "quick": {"sites": 2, "pages": 10, "blocks_per_page": 6, "media_mb": 20},
    # medium's rows with little media: the worst case of a restore through migrations
    "medium-rows": {"sites": 3, "pages": 300, "blocks_per_page": 40, "media_mb": 5},
}
QUICK_SCALE = 0.002  # of the count-heavy corpora in --quick: 200 files, 2,000 blocks
MARIADB_SERVER = os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def run(cmd, env=None, **kw):
    """Run a command, failing loudly; return its completed process."""
    return subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, **kw)


def flask(data_dir, *args, env=None):
    """Run ``flask --app app ARGS`` on a data dir."""
    run(
        [PY, "-m", "flask", "--app", "app", *args],
        env={"STINKY_DATA_DIR": str(data_dir), **(env or {})},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def build_corpus(out, name):
    """Seed (once, cached) the corpus ``name`` in its own data dir and return that dir."""
    opts = CORPORA[name]
    data_dir = out / f"corpus-{name}"
    marker = data_dir / "bench-corpus.json"
    if marker.exists() and json.loads(marker.read_text()) == opts:
        return data_dir
    shutil.rmtree(data_dir, ignore_errors=True)
    print(f"building corpus {name}: {opts}", flush=True)
    flask(data_dir, "db", "upgrade")
    flask(
        data_dir,
        "demo",
        "seed",
        "--sites",
        str(opts["sites"]),
        "--pages",
        str(opts["pages"]),
        "--blocks-per-page",
        str(opts["blocks_per_page"]),
        "--media-mb",
        str(opts["media_mb"]),
    )
    marker.write_text(json.dumps(opts))
    return data_dir


def probe(op, data_dir, *args, env=None):
    """Run one operation in a fresh process; return its measurements."""
    done = run(
        [PY, "-m", "bench.probe", op, str(data_dir), *map(str, args)],
        cwd=ROOT,
        env={"STINKY_DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(cmd, cwd=None):
    """Return the seconds a shell command takes."""
    start = time.perf_counter()
    run(cmd, shell=True, cwd=cwd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(values):
    """Median and spread of a list of numbers."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


def warm(path):
    """Read a tree once so every contender starts with it in the page cache."""
    run(f"find {path} -type f -exec cat {{}} + > /dev/null", shell=True)


def measure_backup(out, name, data_dir, runs, results):
    """Backup, verify and extract a corpus, and GNU tar on the same bytes."""
    system = data_dir / "backups" / "system"
    backups, rss, verify_s, extract_s = [], [], [], []
    for _ in range(runs):
        shutil.rmtree(system, ignore_errors=True)
        warm(data_dir / "uploads")
        b = probe("backup", data_dir)
        backups.append(b["seconds"])
        rss.append(b["peak_kb"] - b["idle_kb"])
    archive = Path(b["result"]["path"])
    backup_id = b["result"]["id"]
    for _ in range(runs):
        verify_s.append(probe("verify", data_dir, backup_id)["seconds"])
        e = probe("extract", data_dir, archive, out / "extract-ours")
        extract_s.append(e["seconds"])
    same = out / "same-bytes"
    shutil.rmtree(same, ignore_errors=True)
    same.mkdir()
    run(["tar", "xzf", str(archive), "-C", str(same)])
    ref = out / "ref"
    tar_cf, tar_czf, tar_xzf, writer, library = [], [], [], [], []
    for _ in range(runs):
        warm(same)
        w = probe("write", data_dir, same, out / "writer.tar.gz")
        writer.append(w["seconds"])
        lib = probe("write_library", data_dir, same, out / "library.tar.gz")
        library.append(lib["seconds"])
        tar_cf.append(timed(f"tar cf {ref}.tar -C {same} ."))
        tar_czf.append(timed(f"tar czf {ref}.tar.gz -C {same} ."))
        shutil.rmtree(out / "extract-tar", ignore_errors=True)
        (out / "extract-tar").mkdir()
        tar_xzf.append(timed(f"tar xzf {archive} -C {out / 'extract-tar'}"))
    results[name] = {
        "corpus": CORPORA[name],
        "bytes": sum(p.stat().st_size for p in same.rglob("*") if p.is_file()),
        "backup": summary(backups),
        "backup_rss_kb": summary(rss),
        "verify": summary(verify_s),
        "extract": summary(extract_s),
        "tar_cf": summary(tar_cf),
        "tar_czf": summary(tar_czf),
        "tar_xzf": summary(tar_xzf),
        "writer": summary(writer),
        "writer_size": w["result"]["size"],
        "library": summary(library),
        "library_size": lib["result"]["size"],
        "size": archive.stat().st_size,
        "tar_czf_size": Path(f"{ref}.tar.gz").stat().st_size,
        "backup_id": backup_id,
    }
    restores, restore_rss = [], []
    for _ in range(runs):
        r = probe("restore", data_dir, backup_id)
        restores.append(r["seconds"])
        restore_rss.append(r["peak_kb"] - r["idle_kb"])
    results[name]["restore"] = summary(restores)
    results[name]["restore_rss_kb"] = summary(restore_rss)
    for p in (same, out / "extract-ours", out / "extract-tar"):
        shutil.rmtree(p, ignore_errors=True)
    Path(f"{ref}.tar").unlink(missing_ok=True)
    (out / "writer.tar.gz").unlink(missing_ok=True)
    (out / "library.tar.gz").unlink(missing_ok=True)
    Path(f"{ref}.tar.gz").unlink(missing_ok=True)


def measure_mariadb(out, name, data_dir, runs, results):
    """Restore the SQLite corpus's backup into MariaDB, then back up and verify there."""
    from bench.anchors import server_database  # it imports this module's helpers

    url, _name, drop = server_database("mariadb")
    env = {"DATABASE_URL": url}
    target = out / f"mariadb-{name}"
    shutil.rmtree(target, ignore_errors=True)
    try:
        flask(target, "db", "upgrade", env=env)
        shutil.copy(data_dir / BACKUP_KEY_FILE, target / BACKUP_KEY_FILE)  # the backup's key
        system = target / "backups" / "system"
        system.mkdir(parents=True, exist_ok=True)
        source = data_dir / "backups" / "system" / f"{results[name]['backup_id']}.tar.gz"
        os.link(source, system / source.name)
        restores = [
            probe("restore", target, results[name]["backup_id"], env=env)["seconds"]
            for _ in range(runs)
        ]
        backups, rss = [], []
        for _ in range(runs):
            b = probe("backup", target, env=env)
            backups.append(b["seconds"])
            rss.append(b["peak_kb"] - b["idle_kb"])
            Path(b["result"]["path"]).unlink()
        results[name]["mariadb"] = {
            "restore": summary(restores),
            "backup": summary(backups),
            "backup_rss_kb": summary(rss),
        }
    finally:
        drop()
        shutil.rmtree(target, ignore_errors=True)


def measure_export(out, data_dir, runs, results):
    """Export the typical site at function level and click-to-link through a worker on Redis."""
    from bench.clicks import click_to_link

    exports, rss, static = [], [], []
    for _ in range(runs):
        warm(data_dir / "uploads")
        e = probe("export", data_dir, 1)
        exports.append(e["seconds"])
        rss.append(e["peak_kb"] - e["idle_kb"])
        archive = Path(e["result"]["path"])
        size = archive.stat().st_size
        files = read_manifest(archive)["files"]
        site_bytes = sum(f["size"] for f in files if f["path"].startswith("site/"))
        archive.unlink()
        static.append(probe("static_site", data_dir, 1)["result"]["seconds"])
    clicks = click_to_link(data_dir, REDIS_URL, runs)
    results["export"] = {
        "function": summary(exports),
        "rss_kb": summary(rss),
        "size": size,
        "static_site": summary(static),
        "static_site_bytes": site_bytes,
        "click_to_link": summary(clicks["browser"]),
        "pipeline": summary(clicks["pipeline"]),
    }


def main(argv=None):
    """Parse options, run the chosen suites and write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--quick", action="store_true", help="a tiny corpus, to check the bench")
    parser.add_argument("--no-large", action="store_true", help="skip the 1 GiB corpus")
    parser.add_argument("--huge", action="store_true", help="also the 3 GiB corpus (growth rows)")
    parser.add_argument("--no-mariadb", action="store_true")
    parser.add_argument(
        "--no-anchors", action="store_true", help="skip the databases' own dump and load tools"
    )
    parser.add_argument(
        "--count-heavy",
        action="store_true",
        help="also the count-heavy corpora (100k files; 1M rows), see bench/scale.py",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="of the count-heavy corpora (1: full size; --quick: 0.002)",
    )
    parser.add_argument(
        "--count-heavy-only", action="store_true", help="the count-heavy corpora alone"
    )
    opts = parser.parse_args(argv)
    opts.out.mkdir(parents=True, exist_ok=True)
    # An installed app has its bytecode cached (the Dockerfile compiles it, pip
    # compiles the libraries); where PYTHONDONTWRITEBYTECODE is set nothing would
    # cache it, and every process measured would compile the app again.
    run([PY, "-m", "compileall", "-q", str(ROOT / "app"), str(ROOT / "bench")])
    results = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }

    if opts.count_heavy or opts.count_heavy_only or opts.quick:
        from bench.scale import measure_count_heavy  # it imports this module's helpers

        quick = opts.quick and opts.scale == 1.0
        measure_count_heavy(
            opts.out,
            QUICK_SCALE if quick else opts.scale,
            opts.runs,
            results,
            anchors=not (opts.no_anchors or opts.quick),
            profiles=not opts.quick,
        )
    if opts.count_heavy_only:
        finish(opts.out, results)
        return
    typical = build_corpus(opts.out, "quick" if opts.quick else "typical")
    measure_export(opts.out, typical, opts.runs, results)
    if opts.quick:
        sizes = ["quick"]
    else:
        sizes = ["medium"] + ([] if opts.no_large else ["large"]) + (["huge"] if opts.huge else [])
        # The typical corpus only gives the first growth row: no anchors, no MariaDB.
        measure_backup(opts.out, "typical", typical, opts.runs, results)
    from bench.process import measure_process  # it imports this module's helpers

    for name in sizes:
        data_dir = build_corpus(opts.out, name)
        measure_backup(opts.out, name, data_dir, opts.runs, results)
        measure_process(name, data_dir, opts.runs, results)
        if not opts.no_anchors:
            from bench.anchors import measure_anchors

            backup_id = results[name]["backup_id"]
            measure_anchors(opts.out, name, data_dir, backup_id, opts.runs, results)
        if not opts.no_mariadb:
            measure_mariadb(opts.out, name, data_dir, opts.runs, results)
    finish(opts.out, results)


def finish(out, results):
    """Write the raw results and the report, and print the report."""
    (out / "report.json").write_text(json.dumps(results, indent=1))
    text = write_report(results, out / "report.md")
    print(text)


if __name__ == "__main__":
    main()
