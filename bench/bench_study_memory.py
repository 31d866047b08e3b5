#!/usr/bin/env python3
"""Peak memory of a study's worker and parent against the number of episodes in one input.

    python bench/bench_study_memory.py [--episodes 10000 100000 1000000] [--repeat 3]

For each count N: a FaceReader export of N frames alternating pure Happy / pure Sad, which
with smoothing_time_constant 0 and hysteresis 0 gives N episodes (one face), plus one of
N frames that stays Happy (1 episode: the same frames, no episodes), each analysed alone in
a folder as a study (`valence_analyze FOLDER --jobs 1 --no-plots -q`, a fresh process).
Reports the worker's peak RSS (study.json, ru_maxrss) and the parent's (ru_maxrss of the
parent process), min..max over --repeat runs. Target (docs/study-reliability.md): a worker
stays under 300 MiB with 1M episodes (issue 22: 559 MiB before episodes became arrays and
a streamed file).

Writes bench_results/study_memory.json (benchlib.py). --smoke: 10,000 episodes, once.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import benchlib  # noqa: E402
from bench_study import _WRAPPER  # noqa: E402

PARAMS = "/**:\n  ros__parameters:\n    smoothing_time_constant: 0.0\n    hysteresis: 0.0\n"
HEADER = ("Video analysis detailed log\n\nFilename\tx.avi\n\n"
          "Video Time\tNeutral\tHappy\tSad\tAngry\tSurprised\tScared\tDisgusted\n")


def export(path: Path, n: int, alternate: bool) -> None:
    ms = np.arange(n, dtype=np.int64) * 40
    s, ms = np.divmod(ms, 1000)
    stamps = [f"{a // 3600:02d}:{a // 60 % 60:02d}:{a % 60:02d}.{b:03d}" for a, b in zip(s.tolist(), ms.tolist())]
    happy, sad = "\t0\t1\t0\t0\t0\t0\t0", "\t0\t0\t1\t0\t0\t0\t0"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write(HEADER)
        f.writelines(f"{t}{sad if alternate and i % 2 else happy}\n" for i, t in enumerate(stamps))


def run(folder: Path, out: Path, params: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-P", "-c", _WRAPPER, "valence_ros.offline.analyze", str(folder),
                           "--out", str(out), "--jobs", "1", "--no-plots", "-q", "--params-file", str(params)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    info = json.loads(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else {}
    if proc.returncode != 0 or info.get("code") != 0:
        raise SystemExit(f"bench: study failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    study = json.loads((out / "study.json").read_text())
    episodes = sum(1 for _ in open(out / "episodes.csv")) - 1
    shutil.rmtree(out, ignore_errors=True)
    return {"episodes": episodes, "worker_mib": study["inputs"][0]["worker_peak_rss_mib"],
            "parent_mib": round(info["parent_rss_mib"], 1), "wall_s": study["totals"]["wall_s"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="seconds: 10,000 episodes, once (CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.episodes, args.repeat = [10_000], 1
    record = benchlib.Result("study_memory")
    work = Path(tempfile.mkdtemp(prefix="bench_study_memory_"))
    params = work / "params.yaml"
    params.write_text(PARAMS)
    rows = {}
    try:
        for n in args.episodes:
            for kind, alternate in (("alternating", True), ("steady", False)):
                export(work / f"{kind}{n}" / "export.txt", n, alternate)
                runs = [run(work / f"{kind}{n}", work / "out", params) for _ in range(max(1, args.repeat))]
                rows[(n, kind)] = runs
                w = [r["worker_mib"] for r in runs]
                p = [r["parent_mib"] for r in runs]
                print(f"  {n:>9,} frames {kind:<11} episodes {runs[0]['episodes']:>9,}  worker {min(w):6.1f}-"
                      f"{max(w):6.1f} MiB  parent {min(p):6.1f}-{max(p):6.1f} MiB", flush=True)
                value, range_ = benchlib.spread(w)
                record.add(f"study worker peak RSS, {n:,} frames, {runs[0]['episodes']:,} episodes", value, "MiB",
                           range_=range_, target="<= 300" if alternate and n >= 1_000_000 else None,
                           target_on="value", note=f"parent {min(p):.0f}-{max(p):.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record.details = {f"{n} {kind}": runs for (n, kind), runs in rows.items()}
    print(f"wrote {record.write()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
