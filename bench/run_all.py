"""Every benchmark in turn, then one table; ``bench/run`` runs this with the project's interpreter.

``--quick`` runs each at a tiny size (what the smoke tests do); ``--only`` picks benchmarks by
name; ``--write-docs`` puts the table into docs/performance.md and redraws the start-up plot.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
import traceback
from pathlib import Path

from common import BENCH, Row, load_note, print_table, table_lines, temp_dir

# (module, arguments at --quick): the order of the table
BENCHMARKS = {
    "pg_issue_revoke": ["--pairs", "3", "--runs", "1"],
    "pg_rest": ["--count", "4", "--runs", "1"],  # with OpenBao when `bao` is installed
    "pg_expiry_storm": ["--leases", "50", "--runs", "1"],
    "startup": ["--sizes", "0,200", "--runs", "1"],
    "memory_overhead": ["--pairs", "20", "--runs", "1"],
    "redis_issue_revoke": ["--count", "20", "--runs", "1"],
    "scale_out": ["--pairs", "6", "--runs", "1", "--clients", "3"],  # rows "S": beyond the table
    "pg_pool_issue": ["--issues", "3", "--runs", "1"],  # rows "P2", "P3", "L": warm pools and scale (issue 21)
    "pg_revoke_prefix": ["--leases", "50", "--runs", "1"],
    "pg_expiry_lag": ["--seconds", "2", "--ttl", "1s"],
    "mysql_expiry_lag": ["--seconds", "2", "--ttl", "1s"],  # rows "LM": the same on MariaDB
    "http_floor": ["--requests", "50", "--runs", "1"],  # rows "F": one request's floor on this machine
}
DOCS = BENCH.parent / "docs" / "performance.md"
PLOT = BENCH.parent / "docs" / "performance-startup.png"
START, END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"


def run_one(name: str, quick: bool, startup_json: Path) -> list[Row]:
    module = importlib.import_module(name)
    parser = argparse.ArgumentParser(prog=name)
    module.add_arguments(parser)
    argv = list(BENCHMARKS[name]) if quick else []
    if name == "startup":
        argv += ["--json", str(startup_json)]
    return module.run(parser.parse_args(argv))


def write_docs(rows: list[Row], notes: list[str], docs: Path, plot: Path, startup_json: Path) -> None:
    """Replace the table between the markers of ``docs`` and redraw ``plot`` from the start-up figures."""
    block = "\n".join([START, "", *notes, "", *table_lines(rows, markdown=True), "", END])
    text = docs.read_text()
    docs.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S))
    if startup_json.exists():
        from plot import plot_startup

        plot_startup(json.loads(startup_json.read_text()), plot)


def _order(row: Row) -> int:
    """The issue's rows by number, then any others (scale-out's "S") in the order they came."""
    number = re.match(r"\d+", row.number)
    return int(number[0]) if number else 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the scripts, measures nothing")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md and its plot")
    parser.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    parser.add_argument("--plot", type=Path, default=PLOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    startup_json = temp_dir() / "startup.json"
    rows: list[Row] = []
    failed: list[str] = []
    before = load_note()
    started = time.monotonic()
    for name in args.only or BENCHMARKS:
        print(f"== {name} ({load_note()})", flush=True)
        try:
            got = run_one(name, args.quick, startup_json)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        print_table(got)
        rows += got
    notes = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{' (--quick)' if args.quick else ''} "
        f"in {(time.monotonic() - started) / 60:.0f} min; {before} at the start, {load_note()} at the end."
    ]
    rows.sort(key=_order)  # startup.py gives rows 4 and 7
    print("\n" + notes[0])
    print_table(rows)
    if args.write_docs and rows:
        write_docs(rows, notes, args.docs, args.plot, startup_json)
        print(f"wrote {args.docs} and {args.plot}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
