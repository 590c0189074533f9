"""Turn the benchmark's results into a markdown report with each target beside its figure."""

MIB = 1024 * 1024  # sizes are shown in IEC units, as everywhere in StinkyKitty


def _s(summary):
    return f"{summary['median']:.2f} s ({summary['min']:.2f}-{summary['max']:.2f})"


def _s3(summary):
    return f"{summary['median']:.3f} s ({summary['min']:.3f}-{summary['max']:.3f})"


def _mib(kb_summary):
    return f"{kb_summary['median'] / 1024:.0f} MiB"


def _verdict(ok):
    return "met" if ok else "**missed**"


def _archive_rows(title, short, size_title, seconds, size, r, label):
    """Rows of one way of writing an archive: its time, its ratios to tar, its size ratio."""
    czf = seconds["median"] / r["tar_czf"]["median"]
    cf = seconds["median"] / r["tar_cf"]["median"]
    ratio = size / r["tar_czf_size"]
    return [
        (f"{title}, {label}", _s(seconds), "", ""),
        (
            f"{short} / `tar czf`, {label}",
            f"{czf:.3f} (1/{1 / czf:.1f})",
            "≤ 1/12",
            _verdict(czf <= 1 / 12),
        ),
        (f"{short} / `tar cf`, {label}", f"{cf:.2f}", "≤ 2", _verdict(cf <= 2)),
        (f"{size_title}, {label}", f"{ratio:.4f}", "≤ 1.01", _verdict(ratio <= 1.01)),
    ]


def _library_rows(r, label):
    """The writer against the library route (``tarfile`` over ``isal.igzip`` level 1)."""
    ratio = r["writer"]["median"] / r["library"]["median"]
    size = r["writer_size"] / r["library_size"]
    return [
        (f"Library route (`tarfile` + `isal.igzip` -1), {label}", _s(r["library"]), "", ""),
        (
            f"Writer alone / library route, {label}",
            f"{ratio:.2f}",
            "≤ 1/1.3 (0.77)",
            _verdict(ratio <= 1 / 1.3),
        ),
        (f"Writer alone, archive size / library route's, {label}", f"{size:.4f}", "", ""),
    ]


def _static_site_rows(export):
    """What the static copy (``site/``) adds to a site export: its share of time and size."""
    if "static_site" not in export:
        return []
    time_share = export["static_site"]["median"] / export["function"]["median"]
    size_share = export["static_site_bytes"] / export["size"]
    return [
        (
            "Site export, writing its static HTML copy (`site/`) alone",
            _s3(export["static_site"]),
            "",
            "",
        ),
        (
            "Static HTML copy / whole export, time",
            f"{time_share:.1%}",
            "≤ 5%",
            _verdict(time_share <= 0.05),
        ),
        (
            "Static HTML copy (uncompressed) / export archive, size",
            f"{size_share:.2%}",
            "≤ 5%",
            _verdict(size_share <= 0.05),
        ),
    ]


def _process_rows(r, label):
    """The whole ``flask backup create`` process against ``tar cf``, and its start-up."""
    if "process" not in r:
        return []
    title = "`flask backup create` process"
    cf = r["process"]["median"] / r["tar_cf"]["median"]
    rows = [
        (f"{title}, {label}", _s(r["process"]), "", ""),
        (f"{title} / `tar cf`, {label}", f"{cf:.2f}", "≤ 3", _verdict(cf <= 3)),
    ]
    first = r.get("process_first_byte")
    start_up = f"{title} start-up (process start to first archive byte), {label}"
    if first:
        rows.append((start_up, _s3(first), "< 0.5 s", _verdict(first["median"] < 0.5)))
    else:  # the process ended before a poll saw a byte
        rows.append((start_up, "not seen: the process ended first", "< 0.5 s", ""))
    if "process_empty_start" in r:
        rows.append(
            (
                f"Empty process start (`flask --app app --help`), {label}",
                _s3(r["process_empty_start"]),
                "",
                "",
            )
        )
    return rows


ENGINE_NAMES = {"sqlite": "SQLite", "mariadb": "MariaDB", "postgresql": "PostgreSQL"}


def _anchor_rows(anchors, label):
    """Our dump and load against each database's own tools, as ratios ours / theirs."""
    rows = []
    for kind, a in anchors.items():
        engine = ENGINE_NAMES[kind]
        rows.append((f"Our dump, {engine}, {label}", _s(a["dump"]), "", ""))
        rows.append((f"Our load (one transaction), {engine}, {label}", _s(a["load"]), "", ""))
        for op in ("dump", "load"):
            for tool, times in a[f"native_{op}"].items():
                ratio = a[op]["median"] / times["median"]
                rows.append((f"`{tool}`, {engine}, {label}", _s(times), "", ""))
                rows.append(
                    (
                        f"Our {op} / `{tool}`, {engine}, {label}",
                        f"{ratio:.2f}",
                        "≤ 1",
                        _verdict(ratio <= 1),
                    )
                )
    return rows


GROWTH = ("typical", "quick", "medium", "large", "huge")


def growth_lines(results):
    """A table of one row per corpus size, and the cost per GiB between the smallest and largest."""
    sizes = [(n, results[n]) for n in GROWTH if n in results and "restore" in results[n]]
    if len(sizes) < 2:
        return []
    lines = [
        "",
        "Growth: one row per corpus size (SQLite, medians); the last row is the slope between "
        "the smallest and the largest corpus, per GiB of data.",
        "",
        "| corpus | data | backup | verify | restore | backup peak | restore peak |",
        "|---|---|---|---|---|---|---|",
    ]
    ops = ("backup", "verify", "restore")
    for name, r in sizes:
        times = " | ".join(f"{r[op]['median']:.2f} s" for op in ops)
        lines.append(
            f"| {name} | {r['bytes'] / MIB:.0f} MiB | {times} | "
            f"{_mib(r['backup_rss_kb'])} | {_mib(r['restore_rss_kb'])} |"
        )
    (_n, small), (_m, large) = sizes[0], sizes[-1]
    gib = (large["bytes"] - small["bytes"]) / (1024 * MIB)
    slopes = " | ".join(
        f"{(large[op]['median'] - small[op]['median']) / gib:.2f} s/GiB" for op in ops
    )
    memory = " | ".join(
        f"{(large[k]['median'] - small[k]['median']) / 1024 / gib:+.0f} MiB/GiB"
        for k in ("backup_rss_kb", "restore_rss_kb")
    )
    lines.append(f"| slope | per GiB | {slopes} | {memory} |")
    return lines


def write_report(results, path):
    """Write ``results`` as markdown to ``path`` and return the text."""
    lines = [
        "# Benchmark report",
        "",
        f"Run {results['started']} on {results['machine']['cores']} cores, Python "
        f"{results['machine']['python']}. Median of the runs (spread in brackets); ratios are "
        "ours / theirs (GNU tar, the library route, the databases' own tools) on the same "
        "data in the same run.",
        *([results["note"]] if results.get("note") else []),
        "",
        "| measure | figure | target | verdict |",
        "|---|---|---|---|",
    ]
    rows = []
    export = results.get("export")
    if export:
        click = export["click_to_link"]["median"]
        rows.append(
            (
                "Site export, click to download button in Chromium (worker on Redis)",
                _s(export["click_to_link"]),
                "< 5 s",
                _verdict(click < 5),
            )
        )
        rows.append(
            (
                "Site export, request to finished file (job timestamps)",
                _s(export["pipeline"]),
                "",
                "",
            )
        )
        rows.append(("Site export, function only", _s(export["function"]), "", ""))
        rows += _static_site_rows(export)
        rows.append(
            (
                "Site export, peak memory above idle",
                _mib(export["rss_kb"]),
                "≤ 64 MiB",
                _verdict(export["rss_kb"]["median"] <= 64 * 1024),
            )
        )
    for name in ("quick", "medium", "large", "huge"):
        r = results.get(name)
        if not r:
            continue
        label = f"{name} corpus ({r['bytes'] / MIB:.0f} MiB)"
        xzf = r["extract"]["median"] / r["tar_xzf"]["median"]
        rows += _archive_rows(
            "Backup end to end (dump + write)",
            "Backup end to end",
            "Archive size / `tar czf` size",
            r["backup"],
            r["size"],
            r,
            label,
        )
        rows += _process_rows(r, label)
        if "writer" in r:
            # The writer alone on exactly the bytes tar archives (no database dump).
            rows += _archive_rows(
                "Archive writer alone, same files as tar",
                "Writer alone",
                "Writer alone, archive size / `tar czf` size",
                r["writer"],
                r["writer_size"],
                r,
                label,
            )
        if "library" in r:
            rows += _library_rows(r, label)
        if "anchors" in r:
            rows += _anchor_rows(r["anchors"], label)
        rows += [
            (f"Verify, {label}", _s(r["verify"]), "", ""),
            (f"Extract+verify / `tar xzf`, {label}", f"{xzf:.2f}", "≤ 0.5", _verdict(xzf <= 0.5)),
            (f"Restore (verify + extract + load), SQLite, {label}", _s(r["restore"]), "", ""),
            (
                f"Backup peak memory above idle, {label}",
                _mib(r["backup_rss_kb"]),
                "≤ 64 MiB",
                _verdict(r["backup_rss_kb"]["median"] <= 64 * 1024),
            ),
            (
                f"Restore peak memory above idle, {label}",
                _mib(r["restore_rss_kb"]),
                "≤ 64 MiB",
                _verdict(r["restore_rss_kb"]["median"] <= 64 * 1024),
            ),
        ]
        if "mariadb" in r:
            m = r["mariadb"]
            rows += [
                (f"Restore into MariaDB, {label}", _s(m["restore"]), "", ""),
                (f"Backup from MariaDB, {label}", _s(m["backup"]), "", ""),
                (
                    f"Backup from MariaDB, peak memory above idle, {label}",
                    _mib(m["backup_rss_kb"]),
                    "≤ 64 MiB",
                    _verdict(m["backup_rss_kb"]["median"] <= 64 * 1024),
                ),
            ]
    if "medium" in results and "large" in results:
        medium, large = results["medium"]["backup_rss_kb"], results["large"]["backup_rss_kb"]
        flat = large["median"] <= medium["median"] * 1.1 + 4096
        rows.append(
            (
                "Backup memory, large corpus vs medium corpus",
                f"{_mib(large)} vs {_mib(medium)}",
                "≤ 1.1x medium + 4 MiB",
                _verdict(flat),
            )
        )
    if rows:
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    else:  # the count-heavy corpora alone: no main table
        del lines[-3:]
    lines += growth_lines(results)
    if results.get("count_heavy"):
        from bench.scalereport import count_heavy_lines  # it imports this module

        lines += count_heavy_lines(results["count_heavy"])
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text
