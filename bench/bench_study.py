#!/usr/bin/env python3
"""Benchmark of a valence_analyze study: throughput with --jobs 1 and --jobs 2, memory per job.

    python bench/bench_study.py [--inputs 20] [--messages 100000] [--repeat 3] [--cache DIR]

1. generates once (seeded, cached in --cache, default $TMPDIR/valence_ros_bench_study)
   --inputs bags of --messages EmotionProbabilities messages each (2 faces at 30 Hz,
   alternately sqlite3 and MCAP; bench_analyze.py's generator);
2. runs `python -m valence_ros.offline.analyze CACHE --out DIR --jobs N -q` as a fresh
   process (interpreter start, worker spawn, every input's full single-input outputs
   including plots, the merge into sessions.csv / episodes.csv / frames.parquet, study.json),
   --repeat times for each N in --jobs, interleaved (1, 2, 1, 2, ...), so load changes hit
   both alike;
3. reports throughput = frames read / wall time of the whole run, the ratio of the medians
   (target: --jobs 2 >= 1.7x --jobs 1 on 2 cores), the CPU time of the run (parent +
   workers) per wall second and frames per CPU second (the parallel overhead, which load
   from other processes does not change), the largest worker peak RSS (study.json) and the parent's peak
   RSS, and the load average before each run (the machine may be shared: a ratio measured
   while other processes hold the cores says less about the tool than about the machine).

Prints a table; writes bench_results/study.json (see benchlib.py). Exit 0.
--smoke: seconds-long run on 2 tiny bags (CI).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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
from bench_analyze import generate  # noqa: E402

_WRAPPER = (
    "import resource, runpy, sys, json\n"
    "sys.argv = sys.argv[1:]\n"
    "code = 0\n"
    "try:\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "except SystemExit as e:\n"
    "    code = e.code or 0\n"
    "ru = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(json.dumps({'parent_rss_mib': ru.ru_maxrss / 1024, 'parent_cpu_s': ru.ru_utime + ru.ru_stime,"
    " 'code': code}), file=sys.stderr)\n"
)


def study_inputs(cache: Path, n_inputs: int, messages: int) -> Path:
    folder = cache / f"study_{n_inputs}x{messages}"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    made = 0
    for i in range(n_inputs):
        storage = "mcap" if i % 2 else "sqlite3"
        bag = folder / f"p{i:03d}_{storage}"
        if not (bag / "metadata.yaml").exists():
            shutil.rmtree(bag, ignore_errors=True)
            generate(bag, storage, messages, seed=i)
            made += 1
    if made:
        print(f"  generated {made} bags in {folder} in {time.monotonic() - t0:.1f} s", flush=True)
    return folder


def run_study(folder: Path, out: Path, jobs: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-P", "-c", _WRAPPER, "valence_ros.offline.analyze", str(folder),
                           "--out", str(out), "--jobs", str(jobs), "-q"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    info = json.loads(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else {}
    if proc.returncode != 0 or info.get("code") != 0:
        raise SystemExit(f"bench: study failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    study = json.loads((out / "study.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    shutil.rmtree(out, ignore_errors=True)
    frames = study["totals"]["frames_read"]
    return {"jobs": jobs, "wall_s": round(wall, 3), "frames": frames, "frames_per_s": round(frames / wall),
            "cpu_s": round(cpu, 2), "cpu_per_wall": round(cpu / wall, 2), "load_before": round(load, 2),
            "frames_per_cpu_s": round(frames / cpu) if cpu > 0 else None,
            "worker_peak_rss_mib": max(e["worker_peak_rss_mib"] for e in study["inputs"]),
            "parent_peak_rss_mib": round(info["parent_rss_mib"], 1),
            "parent_cpu_s": round(info["parent_cpu_s"], 2),
            "input_seconds_sum": round(sum(e["seconds"] for e in study["inputs"]), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=20)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "valence_ros_bench_study")
    ap.add_argument("--json", type=Path, default=None, help="default: bench_results/study.json")
    ap.add_argument("--smoke", action="store_true", help="seconds: 2 tiny bags, one repetition (CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.inputs, args.messages, args.repeat = 2, 2_000, 1
    record = benchlib.Result("study")
    print(f"[study] {args.inputs} bags x {args.messages} messages, jobs {args.jobs}, {args.repeat} repetitions",
          flush=True)
    folder = study_inputs(args.cache, args.inputs, args.messages)
    work = Path(tempfile.mkdtemp(prefix="bench_study_"))
    runs: dict[int, list[dict]] = {j: [] for j in args.jobs}
    try:
        for rep in range(max(1, args.repeat)):
            for jobs in args.jobs:
                r = run_study(folder, work / "out", jobs)
                runs[jobs].append(r)
                print(f"  rep {rep + 1} jobs {jobs}: {r['wall_s']:6.2f} s  {r['frames_per_s']:>9,} frames/s  "
                      f"cpu/wall {r['cpu_per_wall']:.2f}  load {r['load_before']:.2f}  "
                      f"worker RSS {r['worker_peak_rss_mib']:.0f} MiB  parent RSS {r['parent_peak_rss_mib']:.0f} MiB  "
                      f"parent CPU {r['parent_cpu_s']:.1f} s",
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = {}
    for jobs, rs in runs.items():
        fps = [r["frames_per_s"] for r in rs]
        summary[jobs] = {"median_frames_per_s": round(statistics.median(fps)), "min": min(fps), "max": max(fps),
                         "median_frames_per_cpu_s": round(statistics.median(r["frames_per_cpu_s"] for r in rs)),
                         "median_cpu_per_wall": statistics.median(r["cpu_per_wall"] for r in rs),
                         "worker_peak_rss_mib": max(r["worker_peak_rss_mib"] for r in rs),
                         "parent_peak_rss_mib": max(r["parent_peak_rss_mib"] for r in rs)}
    print()
    print(f"{'jobs':>4} {'frames/s median':>16} {'range':>21} {'frames/cpu-s':>13} {'cpu/wall':>9} "
          f"{'worker RSS':>11} {'parent RSS':>11}")
    for jobs, s in summary.items():
        print(f"{jobs:>4} {s['median_frames_per_s']:>16,} {s['min']:>10,}-{s['max']:<10,} "
              f"{s['median_frames_per_cpu_s']:>13,} {s['median_cpu_per_wall']:>9.2f} "
              f"{s['worker_peak_rss_mib']:>10.0f}M {s['parent_peak_rss_mib']:>10.0f}M")
    result = {"inputs": args.inputs, "messages_per_input": args.messages, "runs": runs, "summary": summary,
              "machine": {"cpus": os.cpu_count()}}
    if 1 in summary and 2 in summary:
        ratio = summary[2]["median_frames_per_s"] / summary[1]["median_frames_per_s"]
        pairs = [b["frames_per_s"] / a["frames_per_s"] for a, b in zip(runs[1], runs[2])]
        result["speedup_jobs2_vs_jobs1"] = round(ratio, 3)
        result["speedup_per_repetition"] = [round(p, 3) for p in pairs]
        one_core = summary[1]["median_frames_per_s"]
        result["one_core_hours_of_30hz_video_per_minute"] = round(one_core * 60 / (30 * 3600), 2)
        verdict = "meets" if ratio >= 1.7 else "MISSES"
        print(f"--jobs 2 / --jobs 1 throughput: x{ratio:.2f} (per repetition: "
              f"{', '.join(f'x{p:.2f}' for p in pairs)}); {verdict} the x1.7 target")
        print(f"one job: {one_core:,} frames/s = {result['one_core_hours_of_30hz_video_per_minute']} hours of "
              f"30 Hz video (one face) per minute")
    for jobs, s in summary.items():
        record.add(f"study of {args.inputs} bags x {args.messages:,} msgs, --jobs {jobs}", s["median_frames_per_s"],
                   "frames/s", range_=[s["min"], s["max"]],
                   note=f"worker peak RSS {s['worker_peak_rss_mib']:.0f} MiB")
    if "speedup_per_repetition" in result:
        ratio, ratio_range = benchlib.spread(result["speedup_per_repetition"])
        record.add("study throughput, --jobs 2", summary[2]["median_frames_per_s"], "frames/s",
                   baseline="--jobs 1 (same repetition)", ratio=ratio, ratio_range=ratio_range, target=">= 1.7")
    record.details = result
    print(f"wrote {record.write(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
