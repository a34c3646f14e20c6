"""Run the reliability tests and print the figures table of RELIABILITY.md.

Usage: ``.venv/bin/python scripts/reliability_figures.py`` from the repository root. The
tests append what they did to a file named by RELIABILITY_FIGURES (see
``tests/reliability_support.record_figures``). This script sums those lines by test and
prints a Markdown table, the machine and pytest's closing line.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
COLUMNS = [
    ("clients", "clients held"),
    ("requests", "requests made"),
    ("faults", "faults injected"),
    ("bad_inputs", "bad inputs tried"),
    ("server_errors", "5xx seen"),
    ("rows_lost", "rows lost"),
]


def run_tests(figures_path):
    """Run the reliability tests with figures recorded; return pytest's exit code and summary lines."""
    environment = dict(os.environ, RELIABILITY_FIGURES=str(figures_path))
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *sorted(map(str, (REPOSITORY / "tests").glob("test_reliability_*.py")))],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True,
    )
    lines = finished.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return finished.returncode, "\n".join(failures + lines[-1:]) if lines else finished.stderr[-2000:]


def sum_figures(figures_path):
    """Sum the recorded counts by test name, keeping the order in which tests ran."""
    totals = defaultdict(lambda: defaultdict(int))
    for line in Path(figures_path).read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        name = entry.pop("test")
        for key, value in entry.items():
            totals[name][key] += value
    return totals


def format_table(totals):
    header = "| test | " + " | ".join(title for _, title in COLUMNS) + " | other counts |"
    rows = [header, "|" + " --- |" * (len(COLUMNS) + 2)]
    grand = defaultdict(int)
    for name, counts in totals.items():
        cells = [str(counts.get(key, "")) for key, _ in COLUMNS]
        others = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items() if key not in dict(COLUMNS))
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {others} |")
        for key, value in counts.items():
            grand[key] += value
    cells = [f"**{grand.get(key, 0)}**" for key, _ in COLUMNS]
    rows.append("| **total** | " + " | ".join(cells) + " | |")
    return "\n".join(rows)


def main():
    with tempfile.TemporaryDirectory() as folder:
        figures_path = Path(folder) / "figures.jsonl"
        figures_path.touch()
        exit_code, closing_line = run_tests(figures_path)
        print(format_table(sum_figures(figures_path)))

    print()
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    print(f"pytest: {closing_line}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
