#!/usr/bin/env python3
"""Benchmark: what a design and events cost a study (conditions.csv, events.csv, time courses, figures).

    python bench/bench_study_design.py [--inputs 8] [--messages 20000] [--repeat 3]

Runs the same study (bench_study.py's cached bags: 2 faces at 30 Hz, sqlite3 and MCAP) as
fresh `python -m valence_ros.offline.analyze` processes with --jobs 2, interleaved:

* baseline: no design, no events (what every study did before);
* designed: --design-from-path '{participant}_{condition}' (the bags are p000_sqlite3,
  p001_mcap, ...: two "conditions") and --events with 6 events per session.

Reports wall time per variant (median and range), the ratio designed / baseline in the same
repetition, and the post-merge analysis' own seconds (study.json analysis.seconds: reading
frames.parquet, the tables and 2 + 2x(event labels) figures). --smoke: seconds-long (CI).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

import benchlib  # noqa: E402
from bench_study import study_inputs  # noqa: E402


def write_events(folder: Path, path: Path) -> None:
    lines = ["session,label,start_s,end_s"]
    for bag in sorted(p.name for p in folder.iterdir() if (p / "metadata.yaml").exists()):
        for k in range(3):
            lines.append(f"{bag},joke,{10 + 20 * k},{15 + 20 * k}")
            lines.append(f"{bag},question,{20 + 20 * k},")
    path.write_text("\n".join(lines) + "\n")


def run(folder: Path, out: Path, extra: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-P", "-m", "valence_ros.offline.analyze", str(folder), "--out", str(out),
                           "--jobs", "2", "-q", *extra], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: study failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    study = json.loads((out / "study.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return {"wall_s": round(wall, 3), "load_before": round(load, 2),
            "analysis_s": study.get("analysis", {}).get("seconds"), "frames": study["totals"]["frames_read"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=8)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "valence_ros_bench_study")
    ap.add_argument("--json", type=Path, default=None, help="default: bench_results/study_design.json")
    ap.add_argument("--smoke", action="store_true", help="seconds: 2 tiny bags, one repetition (CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.inputs, args.messages, args.repeat = 2, 2_000, 1
    print(f"[study_design] {args.inputs} bags x {args.messages} messages, --jobs 2, {args.repeat} repetitions",
          flush=True)
    folder = study_inputs(args.cache, args.inputs, args.messages)
    work = Path(tempfile.mkdtemp(prefix="bench_study_design_"))
    events = work / "events.csv"
    write_events(folder, events)
    variants = {"baseline": [], "designed": ["--design-from-path", "{participant}_{condition}", "--events", str(events)]}
    runs: dict[str, list[dict]] = {k: [] for k in variants}
    try:
        for rep in range(max(1, args.repeat)):
            for name, extra in variants.items():
                r = run(folder, work / "out", extra)
                runs[name].append(r)
                note = f"  analysis {r['analysis_s']:.2f} s" if r["analysis_s"] is not None else ""
                print(f"  rep {rep + 1} {name:<9} {r['wall_s']:6.2f} s  load {r['load_before']:.2f}{note}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = benchlib.Result("study_design")
    walls = {k: [r["wall_s"] for r in rs] for k, rs in runs.items()}
    ratios = [d["wall_s"] / b["wall_s"] for b, d in zip(runs["baseline"], runs["designed"])]
    analysis = [r["analysis_s"] for r in runs["designed"]]
    for name, values in walls.items():
        record.add(f"study wall time, {name}", statistics.median(values), "s", range_=[min(values), max(values)])
    ratio, ratio_range = benchlib.spread(ratios)
    record.add("study wall time with design + events", statistics.median(walls["designed"]), "s",
               baseline="no design, no events (same repetition)", ratio=ratio, ratio_range=ratio_range)
    record.add("post-merge analysis (tables + figures)", statistics.median(analysis), "s",
               range_=[min(analysis), max(analysis)])
    print(f"designed / baseline wall time: x{ratio:.2f} (per repetition: {', '.join(f'x{x:.2f}' for x in ratios)}); "
          f"analysis {statistics.median(analysis):.2f} s (range {min(analysis):.2f}-{max(analysis):.2f})")
    record.details = {"inputs": args.inputs, "messages_per_input": args.messages, "runs": runs}
    print(f"wrote {record.write(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
