#!/usr/bin/env python3
"""Write the latest `make bench` table into docs/performance.md, from bench_results/*.json.

Each bench writes bench_results/<bench>.json (shape: bench/benchlib.py); this script
renders one Markdown table of all their figures -- with the rows and number format of
`make bench`'s own table (bench/run_benches.py) -- plus one line per bench saying when,
on what CPU and at what load it ran, and puts it between the markers

    <!-- BEGIN GENERATED: bench table (tools/gen_bench_table.py) -->
    <!-- END GENERATED: bench table -->

    make bench VENV=...                        # writes bench_results/
    python tools/gen_bench_table.py            # rewrites docs/performance.md's table
    python tools/gen_bench_table.py --stdout   # prints it instead
    python tools/gen_bench_table.py --results DIR --document FILE

bench_results/ is not in git (results belong to a machine and a moment); the committed
table is whichever run was rendered last, and says so. Smoke runs are refused unless
--allow-smoke: their numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import run_benches  # noqa: E402  (bench/run_benches.py: figures_of, table, fmt)

BEGIN = "<!-- BEGIN GENERATED: bench table (tools/gen_bench_table.py) -->"
END = "<!-- END GENERATED: bench table -->"
MAX_JSON_BYTES = 16 * 1024 * 1024


class BenchTableError(Exception):
    """A results directory or document the table cannot be made from; the message says why."""


def read_results(results: Path) -> list[tuple[str, dict]]:
    """(bench name, document) of every <bench>.json in `results` (summary.json excluded), by name."""
    if not results.is_dir():
        raise BenchTableError(f"{results} is not a directory; run `make bench` first")
    docs = []
    for path in sorted(results.glob("*.json")):
        if path.name == "summary.json" or not path.is_file():
            continue
        if path.stat().st_size > MAX_JSON_BYTES:
            raise BenchTableError(f"{path}: over {MAX_JSON_BYTES} bytes")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise BenchTableError(f"{path}: not readable JSON ({error})") from None
        if not isinstance(doc, dict):
            raise BenchTableError(f"{path}: not a JSON object")
        docs.append((str(doc.get("bench", path.stem)), doc))
    if not docs:
        raise BenchTableError(f"no <bench>.json in {results}; run `make bench` first")
    return docs


def smoke_run(results: Path) -> bool:
    """Whether the last `make bench` in `results` was a --smoke run (its summary.json says so)."""
    try:
        return bool(json.loads((results / "summary.json").read_text(encoding="utf-8")).get("smoke"))
    except (OSError, ValueError, AttributeError):
        return False


def conditions(name: str, doc: dict) -> str:
    machine = doc.get("machine") or {}
    load = doc.get("load_avg") or {}
    start, end = (load.get("start") or [None])[0], (load.get("end") or [None])[0]
    return (f"- `{name}`: {doc.get('date', 'date unknown')}, {machine.get('cpus', '?')} CPUs "
            f"({machine.get('cpu') or 'CPU unknown'}), load average {run_benches.fmt(start)} at start, "
            f"{run_benches.fmt(end)} at end")


def benches_not_run(docs: list[tuple[str, dict]], bench_dir: Path = REPO / "bench") -> list[str]:
    """bench/bench_<name>.py files with no <name>.json among the results."""
    return sorted({path.stem[len("bench_"):] for path in bench_dir.glob("bench_*.py")}
                  - {name for name, _ in docs})


def render(docs: list[tuple[str, dict]], smoke: bool = False, not_run: Sequence[str] = ()) -> str:
    rows = [(name, figure) for name, doc in docs for figure in run_benches.figures_of(doc)]
    rows.sort(key=lambda row: row[1].get("ratio") is None)   # as make bench: ratios first
    head, body = run_benches.table(rows)
    lines = ["Rendered from `bench_results/` by `tools/gen_bench_table.py`; the runs:", ""]
    if smoke:
        lines[0] = "**A smoke run (`--smoke`): the numbers mean nothing.** " + lines[0]
    lines += [conditions(name, doc) for name, doc in docs]
    if not_run:
        lines += ["", "Not in these results: " + ", ".join(f"`bench_{name}.py`" for name in not_run)
                  + " (`make bench` runs every bench)."]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(x).replace("|", "/") for x in row) + " |" for row in body]
    return "\n".join(lines)


def write_section(document: Path, table: str) -> None:
    text = document.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    new, found = pattern.subn(lambda _: f"{BEGIN}\n{table}\n{END}", text)
    if found != 1:
        raise BenchTableError(f"{document}: expected one pair of bench-table markers, found {found}")
    document.write_text(new, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench_results")
    parser.add_argument("--document", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--stdout", action="store_true", help="print the table, change no file")
    parser.add_argument("--allow-smoke", action="store_true", help="render smoke runs too")
    args = parser.parse_args(argv)
    try:
        docs = read_results(args.results)
        smoke = smoke_run(args.results)
        if smoke and not args.allow_smoke and not args.stdout:
            raise BenchTableError(f"{args.results} holds a smoke run: its numbers mean nothing; "
                                  "run `make bench` (or pass --allow-smoke)")
        table = render(docs, smoke, benches_not_run(docs))
        if args.stdout:
            print(table)
        else:
            write_section(args.document, table)
            print(f"gen_bench_table: wrote the table of {len(docs)} benches into {args.document}")
    except BenchTableError as error:
        print(f"gen_bench_table: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
