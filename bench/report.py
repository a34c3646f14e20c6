"""Render a results file of ``bench/run.py`` as Markdown tables, for BENCHMARKS.md.

Usage: python bench/report.py bench/results/run-YYYYMMDD-HHMMSS.json
"""

import json
import sys


def render(report):
    """Return the Markdown tables of a benchmark report."""
    machine = report["machine"]
    lines = [
        f"Command: `{report['command']}`, started {report['started'][:19]}Z.",
        f"Machine: {machine['cores']} cores, {machine['cpu']}, Python {machine['python']}, {machine['wrk']};"
        f" load average at start {', '.join(f'{value:.2f}' for value in machine['load_average_at_start'])}.",
        "",
    ]
    lines += render_targets(report)
    for size, figures in report["sizes"].items():
        lines += render_size(int(size), figures)
    if "flat" in report:
        lines += render_flat(report["flat"])
    if "configs" in report:
        lines += render_configs(report["configs"])
    if "journal" in report:
        lines += render_journal(report["journal"])
    return "\n".join(lines)


def render_targets(report):
    """Return the table of targets, measured at the largest size of the run."""
    size = max(report["sizes"], key=int)
    figures = report["sizes"][size]
    rows = []
    requests = figures.get("requests")
    if requests:
        wrk = requests["wrk"]
        hot_1, hot_4 = wrk["hot first page @1"], wrk["hot first page @4"]
        offset_1 = wrk["hot, offset=5000 @1"]
        rows.append(("throughput at 4 connections / floor's, hot first page", ">= 0.5", f"{hot_4['rps_ratio']:.2f}",
                     hot_4["rps_ratio"] >= 0.5))
        lowest = min((values["rps_ratio"], key) for key, values in wrk.items() if key.endswith("@4") and key != "floor @4")
        rows.append(("  same, lowest of the measured queries", ">= 0.5", f"{lowest[0]:.2f} ({lowest[1]})", None))
        rows.append(("median latency at 1 connection / floor's, hot first page", "<= 2", f"{hot_1['p50_ratio']:.2f}",
                     hot_1["p50_ratio"] <= 2))
        offset_ratio = offset_1["p50_ms"] / hot_1["p50_ms"]
        rows.append(("offset 5,000 / first page, median latency at 1 connection", "<= 3", f"{offset_ratio:.2f}",
                     offset_ratio <= 3))
        # Forked workers share the master's pages, which a sum of RSS counts once per process;
        # PSS divides each shared page among the processes that map it.
        memory = requests["memory"]["service"]
        rows.append(("resident memory of the whole server (PSS), MiB", "<= 150", f"{memory['pss_mib']:.0f}",
                     memory["pss_mib"] <= 150))
        rows.append(("  same as a sum of the processes' RSS, MiB", "", f"{memory['rss_mib']:.0f}", None))
    if "flat" in report:
        flat = report["flat"]["queries"]
        worst = max((values["p50_ratio"], name) for name, values in flat.items())
        rows.append((f"median latency at {int(size):,} / at {report['flat']['small']:,} rows, worst query", "<= 1.2",
                     f"{worst[0]:.2f} ({worst[1]})", worst[0] <= 1.2))
    if "startup" in figures:
        median = figures["startup"]["median_s"]
        rows.append(("start-up to the first 200, seconds", "<= 0.5", f"{median:.2f}", median <= 0.5))
    load = figures.get("load")
    if load:
        rows.append(("fixture load, rows/s", ">= 100,000", f"{load['rows_per_second']:,.0f}",
                     load["rows_per_second"] >= 100_000))
        rows.append(("  loader peak RSS, MiB, for a fixture of MiB", "bounded",
                     f"{load['peak_rss_mib']:.0f} for {load['fixture_mib']:.0f}", None))

    lines = [f"### Targets at {int(size):,} step results", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for name, goal, measured, met in rows:
        lines.append(f"| {name} | {goal} | {measured} | {'' if met is None else 'yes' if met else 'no'} |")
    return lines + [""]


def render_size(size, figures):
    lines = [f"### {size:,} step results", ""]
    load = figures.get("load")
    if load:
        lines += [
            f"Load: `{load['command']}`: {load['rows']:,} rows in {load['seconds']:.1f} s,"
            f" {load['rows_per_second']:,.0f} rows/s, loader peak RSS {load['peak_rss_mib']:.0f} MiB;"
            f" fixture {load['fixture_mib']:.0f} MiB, database {load['database_mib']:.0f} MiB.",
            "",
        ]

    requests = figures.get("requests")
    if requests:
        lines += [
            f"Floor body: {requests['floor_body_bytes']:,} bytes (the service's hot first page).",
            "",
            "| query | conns | service req/s | floor req/s | req/s ratio | service p50 ms | floor p50 ms | p50 ratio | raw SQLite ms | rounds |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        wrk = requests["wrk"]
        for key, values in wrk.items():
            name, count = key.rsplit(" @", 1)
            if name == "floor":
                continue
            floor = wrk[f"floor @{count}"]
            raw = requests["raw_sqlite_ms"].get(name)
            raw_text = f"{raw:.3f}" if raw is not None else ""
            lines.append(
                f"| {name} | {count} | {values['rps']:,.0f} | {floor['rps']:,.0f} | {values['rps_ratio']:.2f}"
                f" | {values['p50_ms']:.2f} | {floor['p50_ms']:.2f} | {values['p50_ratio']:.2f}"
                f" | {raw_text} | {values['rounds']} |"
            )
        memory = requests["memory"]
        lines += [
            "",
            f"Memory after the rounds: service RSS {memory['service']['rss_mib']:.0f} MiB"
            f" (PSS {memory['service']['pss_mib']:.0f} MiB, {memory['service']['processes']} processes),"
            f" floor RSS {memory['floor']['rss_mib']:.0f} MiB.",
            "",
        ]

    startup = figures.get("startup")
    if startup:
        tries = ", ".join(f"{value:.2f}" for value in startup["tries"])
        lines += [f"Start-up to the first 200: median {startup['median_s']:.2f} s (tries: {tries} s).", ""]

    json_server = figures.get("json-server")
    if json_server:
        lines += [
            f"json-server {json_server['version']} on the same step results, `GET {json_server['path']}`:",
            "",
            "| conns | json-server req/s | floor req/s | req/s ratio | json-server p50 ms | floor p50 ms | rounds |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for count in (1, 4):
            values = json_server["wrk"][f"json-server hot first page @{count}"]
            floor = json_server["wrk"][f"floor @{count}"]
            lines.append(
                f"| {count} | {values['rps']:,.1f} | {floor['rps']:,.0f} | {values['rps_ratio']:.4f}"
                f" | {values['p50_ms']:.1f} | {floor['p50_ms']:.2f} | {values['rounds']} |"
            )
        lines += ["", f"json-server RSS: {json_server['memory']['rss_mib']:.0f} MiB.", ""]
    return lines


def render_flat(flat):
    lines = [
        f"### Latency against size: {flat['large']:,} rows against {flat['small']:,} rows, 1 connection",
        "",
        f"| query | p50 ms at {flat['small']:,} | p50 ms at {flat['large']:,} | ratio | rounds |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in flat["queries"].items():
        lines.append(
            f"| {name} | {values['small_p50_ms']:.2f} | {values['large_p50_ms']:.2f} | {values['p50_ratio']:.2f}"
            f" | {values['rounds']} |"
        )
    return lines + [""]


def render_configs(configs):
    lines = [
        "### Workers x threads, hot first page",
        "",
        "| workers x threads | conns | req/s | p50 ms | rounds |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, values in sorted(configs["wrk"].items(), key=lambda item: (int(item[0].rsplit("@", 1)[1]), item[0])):
        config, count = key.rsplit(" @", 1)
        lines.append(f"| {config} | {count} | {values['rps']:,.0f} | {values['p50_ms']:.2f} | {values['rounds']} |")
    memory = ", ".join(f"{config} {values['rss_mib']:.0f} MiB" for config, values in configs["memory"].items())
    return lines + ["", f"RSS: {memory}.", ""]


def render_journal(journal):
    lines = [
        "### Request journal, hot first page",
        "",
        "| server | conns | req/s | p50 ms | rounds |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, values in journal.items():
        name, count = key.rsplit(" @", 1)
        lines.append(f"| {name} | {count} | {values['rps']:,.0f} | {values['p50_ms']:.2f} | {values['rounds']} |")
    return lines + [""]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: python bench/report.py RESULTS_JSON")
    with open(argv[0]) as file:
        print(render(json.load(file)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
