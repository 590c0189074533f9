"""``python -m bench --count-heavy``: the count-heavy corpora, many files and many rows.

Each corpus (``flask demo seed --preset many-files|many-rows --scale S``, see
app/demo/corpora.py) is measured at the scale asked and at half of it, for the
growth table; each operation runs in a fresh process (bench/probe.py gives its
peak memory above idle), against the plain tools on the same data in the same
run:

- ``flask backup create`` (the whole process, bench/process.py) against
  ``tar cf`` of the same data dir (media, database file, keys);
- verify against ``sha256sum -c`` of the backup's own SHA256SUMS over the same
  files, unpacked;
- restore against ``tar xf`` of the same media plus ``sqlite3`` loading a
  ``.dump`` of the same rows into a new file;
- one site: ``export_site`` of the first (largest) site, and ``restore_site``
  of the same site from the backup;
- at the asked scale, many rows: our dump and load against each engine's own
  tools (bench/anchors.py).

Rows that miss their target are run once more under cProfile (``bench.probe
--profile``, every thread) and the report carries the top of each profile.
"""

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from bench.__main__ import PY, ROOT, flask, probe, run, summary, timed, warm
from bench.process import drop_index, run_create

PRESETS = ("many-files", "many-rows")
MIB_KB = 1024  # probe memory figures are in KiB


def build_preset(out, preset, scale):
    """Seed (once, cached) ``preset`` at ``scale`` in its own data dir and return that dir."""
    opts = {"preset": preset, "scale": scale}
    data_dir = out / f"corpus-{preset}-{scale:g}"
    marker = data_dir / "bench-corpus.json"
    if marker.exists() and json.loads(marker.read_text()) == opts:
        return data_dir
    shutil.rmtree(data_dir, ignore_errors=True)
    print(f"building corpus {preset} at scale {scale:g}", flush=True)
    flask(data_dir, "db", "upgrade")
    flask(data_dir, "demo", "seed", "--preset", preset, "--scale", str(scale))
    run(["sync"])
    marker.write_text(json.dumps(opts))
    return data_dir


def corpus_counts(data_dir):
    """Return (media files, blocks, sites, first site's id and subdomain) of a corpus."""
    with sqlite3.connect(data_dir / "stinkykitty.db") as conn:
        files = conn.execute("SELECT count(*) FROM media_items").fetchone()[0]
        blocks = conn.execute("SELECT count(*) FROM blocks").fetchone()[0]
        sites = conn.execute("SELECT count(*) FROM sites").fetchone()[0]
        first = conn.execute("SELECT id, subdomain FROM sites ORDER BY id LIMIT 1").fetchone()
    return files, blocks, sites, first


def _memory(probed):
    return probed["peak_kb"] - probed["idle_kb"]


def _clean(*paths):
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def measure_backups(out, data_dir, runs):
    """The backup process against ``tar cf`` of the data dir; the backup's memory."""
    ref = out / "count-ref.tar"
    process, first_bytes, tar_cf = [], [], []
    for _ in range(runs):
        warm(data_dir / "uploads")
        seconds, first_byte = run_create(data_dir)
        process.append(seconds)
        if first_byte is not None:
            first_bytes.append(first_byte)
        warm(data_dir / "uploads")
        tar_cf.append(timed(f"tar cf {ref} --exclude=./backups -C {data_dir} ."))
        ref.unlink()
    memory = []
    for _ in range(runs):
        shutil.rmtree(data_dir / "backups" / "system", ignore_errors=True)
        warm(data_dir / "uploads")
        b = probe("backup", data_dir)
        memory.append(_memory(b))
    found = {"process": summary(process), "tar_cf": summary(tar_cf), "backup_kb": summary(memory)}
    if first_bytes:
        found["first_byte"] = summary(first_bytes)
    return found, b["result"]


def measure_verify(out, archive, backup_id, data_dir, runs):
    """Verify against ``sha256sum -c`` of the same files, unpacked."""
    same = out / "count-same"
    _clean(same)
    same.mkdir()
    run(["tar", "xzf", str(archive), "-C", str(same)])
    verify, memory, sums = [], [], []
    for _ in range(runs):
        warm(archive)
        v = probe("verify", data_dir, backup_id)
        verify.append(v["seconds"])
        memory.append(_memory(v))
        warm(same)
        sums.append(timed("sha256sum -c --quiet SHA256SUMS", cwd=same))
    _clean(same)
    return {"verify": summary(verify), "verify_kb": summary(memory), "sha256sum": summary(sums)}


def measure_restore(out, data_dir, backup_id, runs):
    """Restore against ``tar xf`` of the media plus ``sqlite3`` loading a ``.dump`` of the rows."""
    media_tar, sql, fresh = out / "count-media.tar", out / "count-dump.sql", out / "count-fresh"
    run(f"tar cf {media_tar} -C {data_dir} uploads", shell=True)
    run(f"sqlite3 {data_dir / 'stinkykitty.db'} .dump > {sql}", shell=True)
    restore, memory, tar_xf, load = [], [], [], []
    for _ in range(runs):
        r = probe("restore", data_dir, backup_id)
        restore.append(r["seconds"])
        memory.append(_memory(r))
        _clean(fresh)
        fresh.mkdir()
        warm(media_tar)
        tar_xf.append(timed(f"tar xf {media_tar} -C {fresh}"))
        load.append(timed(f"sqlite3 {fresh / 'fresh.db'} < {sql}"))
    _clean(media_tar, sql, fresh)
    native = [t + s for t, s in zip(tar_xf, load, strict=True)]
    return {
        "restore": summary(restore),
        "restore_kb": summary(memory),
        "tar_xf": summary(tar_xf),
        "sqlite3_load": summary(load),
        "native_restore": summary(native),
    }


def measure_one_site(data_dir, backup_id, site, runs):
    """Export the first (largest) site, and restore the same site from the backup."""
    site_id, subdomain = site
    exports, export_kb, restores, restore_kb = [], [], [], []
    for _ in range(runs):
        if (data_dir / "uploads" / str(site_id)).exists():
            warm(data_dir / "uploads" / str(site_id))
        e = probe("export", data_dir, site_id)
        exports.append(e["seconds"])
        export_kb.append(_memory(e))
        Path(e["result"]["path"]).unlink()
        r = probe("site_restore", data_dir, backup_id, subdomain)
        restores.append(r["seconds"])
        restore_kb.append(_memory(r))
    return {
        "subdomain": subdomain,
        "export": summary(exports),
        "export_kb": summary(export_kb),
        "site_restore": summary(restores),
        "site_restore_kb": summary(restore_kb),
    }


def measure_corpus(out, preset, scale, runs):
    """Every measure of one corpus at one scale; return them, and the backup made."""
    data_dir = build_preset(out, preset, scale)
    files, blocks, sites, first = corpus_counts(data_dir)
    uploads = sum(p.stat().st_size for p in (data_dir / "uploads").rglob("*") if p.is_file())
    found = {
        "scale": scale,
        "files": files,
        "blocks": blocks,
        "sites": sites,
        "media_bytes": uploads,
        "db_bytes": (data_dir / "stinkykitty.db").stat().st_size,
    }
    print(f"{preset} at {scale:g}: {files} files, {blocks} blocks", flush=True)
    backups, backup = measure_backups(out, data_dir, runs)
    found.update(backups)
    found["archive_bytes"] = backup["size"]
    found.update(measure_verify(out, Path(backup["path"]), backup["id"], data_dir, runs))
    found.update(measure_restore(out, data_dir, backup["id"], runs))
    found["one_site"] = measure_one_site(data_dir, backup["id"], first, runs)
    return found, data_dir, backup


PROFILED = {
    # a row's key: (the probe's operation, its arguments from (backup, first site))
    "process": ("backup", lambda b, s: ()),
    "backup_kb": ("backup", lambda b, s: ()),
    "verify": ("verify", lambda b, s: (b["id"],)),
    "verify_kb": ("verify", lambda b, s: (b["id"],)),
    "restore": ("restore", lambda b, s: (b["id"],)),
    "restore_kb": ("restore", lambda b, s: (b["id"],)),
    "export_kb": ("export", lambda b, s: (s[0],)),
    "site_restore": ("site_restore", lambda b, s: (b["id"], s[1])),
    "site_restore_kb": ("site_restore", lambda b, s: (b["id"], s[1])),
}


def profile_misses(out, data_dir, backup, found):
    """Run each operation behind a missed row once under cProfile; return {op: top text}."""
    from bench.scalereport import missed_keys

    profiles = {}
    site = corpus_counts(data_dir)[3]
    for key in missed_keys(found):
        op, args = PROFILED[key]
        if op in profiles:
            continue
        dest = out / f"profile-{op}.txt"
        done = subprocess.run(
            [PY, "-m", "bench.probe", "--profile", str(dest), op, str(data_dir)]
            + [str(a) for a in args(backup, site)],
            cwd=ROOT,
            env={**os.environ, "STINKY_DATA_DIR": str(data_dir)},
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])["result"]
        if op in ("export", "backup"):
            Path(result["path"]).unlink()
            drop_index(result["path"])
        profiles[op] = dest.read_text()
        dest.unlink()
    return profiles


def measure_count_heavy(out, scale, runs, results, anchors=True, profiles=True):
    """Measure both count-heavy corpora at ``scale`` and half of it; add them to ``results``."""
    heavy = results["count_heavy"] = {"scale": scale, "corpora": {}}
    for preset in PRESETS:
        small, _dir, small_backup = measure_corpus(out, preset, scale / 2, runs)
        Path(small_backup["path"]).unlink(missing_ok=True)
        drop_index(small_backup["path"])
        found, data_dir, backup = measure_corpus(out, preset, scale, runs)
        found["half"] = small
        if anchors and preset == "many-rows":
            from bench.anchors import measure_anchors

            name = f"count-{preset}"
            results[name] = {}
            found["anchors"] = measure_anchors(out, name, data_dir, backup["id"], runs, results)
            del results[name]
        if profiles:
            found["profiles"] = profile_misses(out, data_dir, backup, found)
        heavy["corpora"][preset] = found
        Path(backup["path"]).unlink(missing_ok=True)
        drop_index(backup["path"])
    return heavy


def profile_again(out):
    """Profile the misses of the last report's count-heavy corpora again; rewrite the report.

    For a report written before the profiles covered every thread, or to look
    again without measuring everything again: one backup of each corpus is
    made for the profiles, then removed.
    """
    from bench.__main__ import finish

    results = json.loads((out / "report.json").read_text())
    heavy = results["count_heavy"]
    for preset, found in heavy["corpora"].items():
        data_dir = build_preset(out, preset, found["scale"])
        backup = probe("backup", data_dir)["result"]
        try:
            found["profiles"] = profile_misses(out, data_dir, backup, found)
        finally:
            Path(backup["path"]).unlink(missing_ok=True)
            drop_index(backup["path"])
    finish(out, results)


def main(argv=None):
    """``python -m bench.scale --profile-again [--out DIR]``: see ``profile_again``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--profile-again", action="store_true", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    opts = parser.parse_args(argv)
    profile_again(opts.out)


if __name__ == "__main__":
    main()
