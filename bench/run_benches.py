#!/usr/bin/env python3
"""`make bench`: run every bench/bench_*.py, then print ONE table of all their figures.

Each bench writes bench_results/<name>.json (the shape is in benchlib.py); this
runner merges the files the benches wrote during this run into
bench_results/summary.json (figures, units, baselines, machine, load average, date)
and bench_results/summary.md (the table as Markdown; tools/gen_bench_table.py puts the
latest per-bench JSON into docs/performance.md). A bench added
later (any bench/bench_*.py) is picked up without changes here; JSON without
"figures" is listed by its numeric fields.

    python bench/run_benches.py                  # everything (<= 10 min on 2 cores)
    python bench/run_benches.py --smoke          # seconds per bench: CI keeps them working
    python bench/run_benches.py --only node_latency hot_path
Exit status: non-zero if a bench failed (never because a target was missed).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402


def fmt(x, digits=3) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)):
        a = abs(x)
        if a >= 1000:
            return f"{x:,.0f}"
        if a >= 100:
            return f"{x:.0f}"
        if a >= 10:
            return f"{x:.1f}"
        return f"{x:.{digits}g}"
    return str(x)


def fmt_range(r) -> str:
    return f"{fmt(r[0])}–{fmt(r[1])}" if r else ""


def numeric_leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from numeric_leaves(v, f"{prefix}{k}.")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix.rstrip("."), obj


def figures_of(doc: dict) -> list[dict]:
    if isinstance(doc.get("figures"), list):
        return doc["figures"]
    return [benchlib.figure(name, value, "") for name, value in list(numeric_leaves(doc))[:20]]


def table(rows: list[tuple[str, dict]]) -> tuple[tuple, list[tuple]]:
    head = ("bench", "figure", "ratio", "ratio range", "target", "met", "value", "range", "unit", "baseline")
    body = []
    for bench, f in rows:
        body.append((bench, f["name"], fmt(f.get("ratio")), fmt_range(f.get("ratio_range")),
                     ((f.get("target") or "") + (" (value)" if f.get("target_on") == "value" else "")),
                     fmt(f.get("met")) if f.get("met") is not None else "",
                     fmt(f.get("value")), fmt_range(f.get("range")), f.get("unit") or "",
                     f.get("baseline") or ""))
    return head, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="pass --smoke to every bench")
    parser.add_argument("--only", nargs="*", default=None, help="bench names (bench_<name>.py)")
    parser.add_argument("--results", type=Path, default=None,
                        help="where the JSON goes (default bench_results/; also $VALENCE_BENCH_RESULTS)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per bench")
    args = parser.parse_args()
    results = args.results or Path(os.environ.get("VALENCE_BENCH_RESULTS", benchlib.RESULTS))
    results.mkdir(parents=True, exist_ok=True)
    benches = sorted(HERE.glob("bench_*.py"))
    if args.only:
        benches = [b for b in benches if b.stem[len("bench_"):] in args.only]
    if not benches:
        print("[bench] no bench/bench_*.py selected", file=sys.stderr)
        return 1
    started = time.time()
    start_load = benchlib.load_avg()
    env = {**os.environ, "VALENCE_BENCH_RESULTS": str(results), "VALENCE_BENCH_SMOKE": "1" if args.smoke else ""}
    failed, durations = [], {}
    for bench in benches:
        # a bench that has no --smoke option runs as it is (and sees VALENCE_BENCH_SMOKE=1)
        smoke = args.smoke and "--smoke" in bench.read_text(errors="replace")
        cmd = [sys.executable, str(bench)] + (["--smoke"] if smoke else [])
        print(f"[bench] {' '.join(cmd[1:])}", flush=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.run(cmd, env=env, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        durations[bench.stem] = round(time.monotonic() - t0, 1)
        if rc != 0:
            failed.append(f"{bench.name} ({rc})")
            print(f"[bench] FAILED: {bench.name} exit {rc}", file=sys.stderr, flush=True)

    rows, docs = [], {}
    for path in sorted(results.glob("*.json")):
        if path.name == "summary.json" or path.stat().st_mtime < started - 1:
            continue   # not written by this run
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            failed.append(f"{path.name} (unreadable: {error})")
            continue
        name = doc.get("bench", path.stem) if isinstance(doc, dict) else path.stem
        docs[name] = doc
        rows += [(name, f) for f in figures_of(doc if isinstance(doc, dict) else {})]
    # ratios first: figures with a ratio, then the rest, each in bench order
    rows.sort(key=lambda r: r[1].get("ratio") is None)
    head, body = table(rows)
    load = benchlib.load_avg()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = benchlib.machine()
    conditions = (f"{date}; {machine['cpus']} CPUs ({machine['cpu']}); load average at start "
                  f"{start_load[0]:.2f}, at end {load[0]:.2f}" + ("; SMOKE RUN (numbers meaningless)"
                                                                  if args.smoke else ""))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)] if body else []
    print()
    print(f"valence_ros benchmarks: {conditions}")
    for row in [head] + body:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(str(x).replace("|", "/") for x in row) + " |" for row in body]
    (results / "summary.md").write_text(f"{conditions}\n\n" + "\n".join(md) + "\n")
    (results / "summary.json").write_text(json.dumps({
        "date": date, "machine": machine, "load_avg": {"start": start_load, "end": load},
        "smoke": args.smoke, "durations_s": durations, "failed": failed,
        "figures": [{"bench": b, **f} for b, f in rows]}, indent=2) + "\n")
    print(f"\n[bench] {len(benches)} benchmarks in {time.time() - started:.0f} s "
          f"({', '.join(f'{k} {v} s' for k, v in durations.items())}); wrote {results}/summary.json, summary.md")
    if failed:
        print(f"[bench] FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
