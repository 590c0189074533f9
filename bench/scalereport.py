"""The count-heavy rows of the report (bench/scale.py): targets, verdicts, growth and profiles."""

from bench.report import MIB, _anchor_rows, _mib, _s, _s3, _verdict

MEMORY_TARGET_KB = 64 * 1024
NAMES = {"many-files": "many files", "many-rows": "many rows"}
UNITS = {"many-files": ("files", 100_000, "100k files"), "many-rows": ("blocks", 10**6, "1M rows")}
MEMORY_ROWS = (
    ("backup_kb", "Backup"),
    ("verify_kb", "Verify"),
    ("restore_kb", "Restore"),
)


def _ratio(found, ours, theirs):
    return found[ours]["median"] / found[theirs]["median"]


def targets(found):
    """Return {row key: (figure, target, met)} of one corpus's measures."""
    rows = {
        "process": (_ratio(found, "process", "tar_cf"), "≤ 3", lambda r: r <= 3),
        "verify": (_ratio(found, "verify", "sha256sum"), "≤ 1", lambda r: r <= 1),
        "restore": (_ratio(found, "restore", "native_restore"), "≤ 3", lambda r: r <= 3),
    }
    for key, _title in MEMORY_ROWS:
        rows[key] = (found[key]["median"], "≤ 64 MiB", lambda kb: kb <= MEMORY_TARGET_KB)
    site = found["one_site"]
    rows["export_kb"] = (site["export_kb"]["median"], "≤ 64 MiB", lambda kb: kb <= MEMORY_TARGET_KB)
    rows["site_restore_kb"] = (
        site["site_restore_kb"]["median"],
        "≤ 64 MiB",
        lambda kb: kb <= MEMORY_TARGET_KB,
    )
    ratio = site["site_restore"]["median"] / site["export"]["median"]
    rows["site_restore"] = (ratio, "≤ 2", lambda r: r <= 2)
    return {key: (value, target, check(value)) for key, (value, target, check) in rows.items()}


def missed_keys(found):
    """Return the keys of the rows of one corpus that miss their target."""
    return [key for key, (_v, _t, met) in targets(found).items() if not met]


def corpus_label(preset, found):
    """Return the short name of a corpus at its scale in the rows: "many files, scale 0.25"."""
    return f"{NAMES[preset]}, scale {found['scale']:g}"


def corpus_line(preset, found):
    """Return what a corpus at its scale holds, in one line."""
    return (
        f"- *{corpus_label(preset, found)}*: {found['sites']} sites, {found['files']} media "
        f"files ({found['media_bytes'] / MIB:.0f} MiB), {found['blocks']} blocks "
        f"({found['db_bytes'] / MIB:.0f} MiB SQLite database), "
        f"a backup of {found['archive_bytes'] / MIB:.0f} MiB"
    )


def corpus_rows(preset, found):
    """Return the (measure, figure, target, verdict) rows of one corpus."""
    label = corpus_label(preset, found)
    t = targets(found)
    site = found["one_site"]
    rows = [
        (f"`flask backup create` process, {label}", _s(found["process"]), "", ""),
        (f"`tar cf` of the data dir, {label}", _s(found["tar_cf"]), "", ""),
        (
            f"`flask backup create` process / `tar cf`, {label}",
            f"{t['process'][0]:.2f}",
            "≤ 3",
            _verdict(t["process"][2]),
        ),
    ]
    if "first_byte" in found:
        first = found["first_byte"]
        rows.append(
            (
                f"Start-up (process start to first archive byte), {label}",
                _s3(first),
                "< 0.5 s",
                _verdict(first["median"] < 0.5),
            )
        )
    rows += [
        (f"Verify, {label}", _s(found["verify"]), "", ""),
        (f"`sha256sum -c` of the same files, {label}", _s(found["sha256sum"]), "", ""),
        (
            f"Verify / `sha256sum -c`, {label}",
            f"{t['verify'][0]:.2f}",
            "≤ 1",
            _verdict(t["verify"][2]),
        ),
        (f"Restore (SQLite), {label}", _s(found["restore"]), "", ""),
        (
            f"`tar xf` of the media + `sqlite3` loading a `.dump`, {label}",
            f"{_s(found['native_restore'])}: {found['tar_xf']['median']:.2f} s + "
            f"{found['sqlite3_load']['median']:.2f} s",
            "",
            "",
        ),
        (
            f"Restore / (`tar xf` + `sqlite3` load), {label}",
            f"{t['restore'][0]:.2f}",
            "≤ 3",
            _verdict(t["restore"][2]),
        ),
    ]
    for key, title in MEMORY_ROWS:
        rows.append(
            (
                f"{title} peak memory above idle, {label}",
                _mib(found[key]),
                "≤ 64 MiB",
                _verdict(t[key][2]),
            )
        )
    what = f"site {site['subdomain']}, {label}"
    rows += [
        (f"Site export of {what}", _s(site["export"]), "", ""),
        (
            f"Site export peak memory above idle, {what}",
            _mib(site["export_kb"]),
            "≤ 64 MiB",
            _verdict(t["export_kb"][2]),
        ),
        (f"One-site restore of {what}", _s(site["site_restore"]), "", ""),
        (
            f"One-site restore peak memory above idle, {what}",
            _mib(site["site_restore_kb"]),
            "≤ 64 MiB",
            _verdict(t["site_restore_kb"][2]),
        ),
        (
            f"One-site restore / site export, {what}",
            f"{t['site_restore'][0]:.2f}",
            "≤ 2",
            _verdict(t["site_restore"][2]),
        ),
    ]
    if "anchors" in found:
        rows += _anchor_rows(found["anchors"], label)
    return rows


def growth_table(preset, found):
    """Lines of the growth table of one corpus: both scales, the slope, and flatness."""
    half = found.get("half")
    if not half:
        return []
    unit, per, per_name = UNITS[preset]
    times = ("process", "verify", "restore")
    peaks = [key for key, _t in MEMORY_ROWS]
    lines = [
        "",
        f"Growth, {NAMES[preset]} (SQLite, medians): the corpus at two scales, and the slope "
        f"between them per {per_name}.",
        "",
        f"| scale | {unit} | backup process | verify | restore | backup peak | "
        "verify peak | restore peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in (half, found):
        cells = " | ".join(f"{r[k]['median']:.2f} s" for k in times)
        peak_cells = " | ".join(_mib(r[k]) for k in peaks)
        lines.append(f"| {r['scale']:g} | {r[unit]} | {cells} | {peak_cells} |")
    units = (found[unit] - half[unit]) / per
    if units > 0:
        slopes = " | ".join(
            f"{(found[k]['median'] - half[k]['median']) / units:.1f} s" for k in times
        )
        memory = " | ".join(
            f"{(found[k]['median'] - half[k]['median']) / 1024 / units:+.0f} MiB" for k in peaks
        )
        lines.append(f"| slope | per {per_name} | {slopes} | {memory} |")
    flat = [
        k
        for k in peaks
        if found[k]["median"] > half[k]["median"] * 1.1 + 4096  # as for the byte-heavy corpora
    ]
    lines += [
        "",
        f"Memory flat (at the larger scale ≤ 1.1x the smaller + 4 MiB), {NAMES[preset]}: "
        + (_verdict(True) if not flat else f"{_verdict(False)} ({', '.join(flat)})"),
    ]
    return lines


def profile_lines(preset, found):
    """The profiles of the operations behind missed rows, as text blocks."""
    lines = []
    for op, text in found.get("profiles", {}).items():
        lines += [
            "",
            f"Profile of `{op}`, {NAMES[preset]} at scale {found['scale']:g} (cProfile, every "
            "thread added up; the top functions by own time, then by cumulative time):",
            "",
            "```",
            *_trim(text),
            "```",
        ]
    return lines


def _trim(text):
    """Drop pstats' preamble lines and blank runs, keep the tables."""
    kept = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line and (not kept or not kept[-1]):
            continue
        if line.lstrip().startswith(("Ordered by", "List reduced")):
            continue
        kept.append(line)
    return kept


def count_heavy_lines(heavy):
    """Return the count-heavy section of the report: rows, growth tables, profiles."""
    lines = [
        "",
        "## Count-heavy corpora",
        "",
        f"Scale {heavy['scale']:g} of the presets (and half of it for the growth tables):",
        "",
        *[corpus_line(p, f) for p, f in heavy["corpora"].items()],
        "",
        "| measure | figure | target | verdict |",
        "|---|---|---|---|",
    ]
    for preset, found in heavy["corpora"].items():
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in corpus_rows(preset, found)]
    for preset, found in heavy["corpora"].items():
        lines += growth_table(preset, found)
    for preset, found in heavy["corpora"].items():
        lines += profile_lines(preset, found)
    return lines
