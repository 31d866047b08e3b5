#!/usr/bin/env python3
"""Benchmark of valence_analyze: frames/s end to end and peak memory, per storage format.

    python bench/bench_analyze.py [--messages 1000000] [--small 100000] [--repeat 2]
                                  [--cache DIR] [--formats sqlite3 mcap]

For each storage format (sqlite3, MCAP) it:

1. generates once (seeded, cached in --cache, default $TMPDIR/valence_ros_bench) a
   bag of --messages EmotionProbabilities messages: 2 faces at 30 Hz each,
   frame_id "camera", canonical labels (empty list), 7 probabilities from a
   Dirichlet distribution. Generation writes pre-encoded CDR rows in bulk
   (rosbags' per-message Writer.write would take minutes); a sample is
   checked against rosbags' deserialize_cdr;
2. runs `python -m valence_ros.offline.analyze BAG --out DIR --quiet` in a fresh process
   (so the time includes interpreter start, imports, model loading, plots and
   summary; the shipped weights load without torch, checked via summary.json's
   torch_imported) --repeat times; reports the best wall time as frames/s, the
   frames phase alone (bag open to outputs closed, from summary.json) and the
   peak RSS of the process;
3. as the baseline, in the same run: rosbags' plain read + deserialize_cdr of
   every message of the same bag (what a straightforward tool would do before
   any processing), in a fresh process as well;
4. memory flatness: peak RSS for a --small (100k) and a --huge (3M) bag vs the
   --messages (1M) one.

Target (issue #5): >= 200,000 frames/s end to end for 1,000,000 messages.
The machine is shared (2 cores): numbers are noisy; ratios are the robust part.
Prints a table; writes bench_results/analyze.json (see benchlib.py). Exit 0.
--smoke: seconds-long run on tiny bags (CI).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import benchlib  # noqa: E402

from valence_ros.offline.bag_reader import typestore  # noqa: E402
from valence_ros.offline.bag_writer import BagWriter  # noqa: E402
from valence_ros.cdr import EMOTION_PROBABILITIES  # noqa: E402

FACES = ("face_0", "face_1")


def _template(face: bytes, frame: bytes = b"camera", n_values: int = 7) -> tuple[np.ndarray, int]:
    """A zero-stamp EmotionProbabilities CDR row (empty labels) and the offset of the values."""
    head = bytearray(b"\x00\x01\x00\x00" + bytes(8))
    head += (len(frame) + 1).to_bytes(4, "little") + frame + b"\0"
    head += bytes((-(len(head) - 4)) % 4)
    head += (len(face) + 1).to_bytes(4, "little") + face + b"\0"
    head += bytes((-(len(head) - 4)) % 4)
    head += (0).to_bytes(4, "little")            # labels: empty sequence
    head += n_values.to_bytes(4, "little")       # probabilities: count
    values_at = len(head)
    row = np.zeros(values_at + 4 * n_values, dtype=np.uint8)
    row[:values_at] = np.frombuffer(bytes(head), dtype=np.uint8)
    return row, values_at


def generate(path: Path, storage: str, n: int, seed: int = 0, batch: int = 100_000) -> None:
    """n messages, 2 faces alternating at 60 Hz in total, written in bulk."""
    rng = np.random.default_rng(seed)
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    writer = BagWriter(tmp, storage)
    conn = writer.add_topic("/emotion_probabilities", EMOTION_PROBABILITIES)
    rows = [_template(f.encode()) for f in FACES]
    width = len(rows[0][0])
    assert all(len(r[0]) == width for r in rows)
    start_ns = 1_700_000_000 * 1_000_000_000
    # a slowly drifting mood per face, so states change now and then
    for first in range(0, n, batch):
        k = min(batch, n - first)
        i = np.arange(first, first + k)
        stamp = start_ns + i * 16_666_667
        face = i % 2
        mood = np.sin(i / 20_000.0 + face)[:, None]
        alpha = np.ones((k, 7)) * 0.6
        alpha[:, 1] += 3 * np.clip(mood[:, 0], 0, None)     # happy
        alpha[:, 2] += 3 * np.clip(-mood[:, 0], 0, None)    # sad
        p = rng.gamma(alpha).astype(np.float32)
        p /= p.sum(axis=1, keepdims=True)
        prefix = writer.prefix
        block = np.zeros((k, prefix + width), dtype=np.uint8)
        for f, (row, _) in enumerate(rows):
            block[face == f, prefix:] = row
        values_at = rows[0][1]
        block[:, prefix + 4:prefix + 8] = (stamp // 1_000_000_000).astype("<i4").view(np.uint8).reshape(k, 4)
        block[:, prefix + 8:prefix + 12] = (stamp % 1_000_000_000).astype("<u4").view(np.uint8).reshape(k, 4)
        block[:, prefix + values_at:] = p.astype("<f4").view(np.uint8).reshape(k, 28)
        offsets = np.arange(k, dtype=np.int64) * block.shape[1]
        sizes = np.full(k, block.shape[1], dtype=np.int64)
        receive = stamp + 2_000_000 + rng.integers(0, 1_000_000, k)   # ~2-3 ms after capture
        receive = np.maximum.accumulate(receive)
        writer.write_records(conn, receive, block.reshape(-1), offsets, sizes)
    writer.close()
    # sanity: what we wrote is what rosbags reads
    from rosbags.rosbag2 import Reader
    with Reader(tmp) as reader:
        count = 0
        for _, _, data in reader.messages():
            msg = typestore().deserialize_cdr(data, EMOTION_PROBABILITIES)
            assert msg.face_id in FACES and len(msg.probabilities) == 7
            count += 1
            if count == 1000:
                break
    tmp.rename(path)


def bag_for(cache: Path, storage: str, n: int) -> Path:
    path = cache / f"ep_{storage}_{n}"
    if not (path / "metadata.yaml").exists():
        t0 = time.monotonic()
        shutil.rmtree(path, ignore_errors=True)
        generate(path, storage, n)
        print(f"  generated {path} in {time.monotonic() - t0:.1f} s", flush=True)
    return path


_RSS_WRAPPER = (
    "import resource, runpy, sys, time, json\n"
    "t0 = time.monotonic()\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "except SystemExit as e:\n"
    "    if e.code not in (0, None): raise\n"
    "print(json.dumps({'rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
    " 'wall_s': time.monotonic() - t0}), file=sys.stderr)\n"
)

_BASELINE = (
    "import sys, time\n"
    "from rosbags.rosbag2 import Reader\n"
    "from valence_ros.offline.bag_reader import typestore\n"
    "store = typestore()\n"
    "t0 = time.monotonic(); n = 0\n"
    "with Reader(sys.argv[1]) as reader:\n"
    "    for conn, t, data in reader.messages():\n"
    "        store.deserialize_cdr(data, conn.msgtype); n += 1\n"
    "print(n, time.monotonic() - t0)\n"
)


def measured(module_args: list[str]) -> dict:
    """Run `python -c wrapper module args...` and return wall (outside), rss and inner wall."""
    t0 = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *module_args], capture_output=True,
                          text=True, env=env)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    info = json.loads(proc.stderr.strip().splitlines()[-1])
    return {"wall_s": wall, "rss_mib": info["rss_mib"], "stdout": proc.stdout}


def analyze_once(bag: Path, work: Path) -> dict:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    result = measured(["valence_ros.offline.analyze", str(bag), "--out", str(out), "--quiet"])
    summary = json.loads((out / "summary.json").read_text())
    result["frames"] = summary["frames"]["read"]
    result["timing_s"] = summary["timing_s"]
    result["processing_s"] = summary["timing_s"]["frames"]
    result["torch_imported"] = summary["torch_imported"]
    shutil.rmtree(out, ignore_errors=True)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--huge", type=int, default=3_000_000,
                    help="a third bag size for the memory-flatness check (0 = skip)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--formats", nargs="+", default=["sqlite3", "mcap"], choices=["sqlite3", "mcap"])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "valence_ros_bench")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="default: bench_results/analyze.json")
    ap.add_argument("--smoke", action="store_true", help="seconds: tiny bags, one run each")
    args = ap.parse_args(argv)
    if args.smoke:
        args.messages, args.small, args.huge, args.repeat = 20_000, 5_000, 0, 1
    record = benchlib.Result("analyze")
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_analyze_"))
    results = {}
    try:
        for storage in args.formats:
            print(f"[{storage}]", flush=True)
            big = bag_for(args.cache, storage, args.messages)
            small = bag_for(args.cache, storage, args.small)
            # analyser and baseline interleaved, so load from other processes hits both alike
            runs, baselines = [], []
            for _ in range(max(1, args.repeat)):
                runs.append(analyze_once(big, work))
                if not args.no_baseline:
                    t0 = time.monotonic()
                    proc = subprocess.run([sys.executable, "-c", _BASELINE, str(big)], capture_output=True,
                                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
                    n, inner = proc.stdout.split()
                    baselines.append((int(n) / float(inner), time.monotonic() - t0))
            best = min(runs, key=lambda r: r["wall_s"])
            small_run = analyze_once(small, work)
            huge_run = analyze_once(bag_for(args.cache, storage, args.huge), work) if args.huge else None
            assert not any(r["torch_imported"] for r in runs), "the shipped weights should load without torch"
            entry = {
                "messages": args.messages,
                "end_to_end_s": [round(r["wall_s"], 3) for r in runs],
                "frames_per_s_end_to_end": round(args.messages / best["wall_s"]),
                "timing_s": [r["timing_s"] for r in runs],
                "frames_per_s_frames_phase": round(args.messages / min(r["processing_s"] for r in runs)),
                "peak_rss_mib": round(best["rss_mib"], 1),
                "small_messages": args.small,
                "small_peak_rss_mib": round(small_run["rss_mib"], 1),
            }
            if huge_run is not None:
                entry.update({"huge_messages": args.huge, "huge_peak_rss_mib": round(huge_run["rss_mib"], 1),
                              "huge_frames_per_s_end_to_end": round(args.huge / huge_run["wall_s"])})
            fps = [args.messages / r["wall_s"] for r in runs]
            if baselines:
                entry["baseline_rosbags_read_deserialize_msgs_per_s"] = round(max(b[0] for b in baselines))
                entry["baseline_wall_s"] = [round(b[1], 3) for b in baselines]
                entry["speedup_vs_baseline"] = round(
                    entry["frames_per_s_end_to_end"] / entry["baseline_rosbags_read_deserialize_msgs_per_s"], 2)
                ratio, ratio_range = benchlib.spread([f / b[0] for f, b in zip(fps, baselines)])
            else:
                ratio = ratio_range = None
            value, value_range = benchlib.spread(fps)
            record.add(f"valence_analyze end to end, {args.messages:,}-msg {storage} bag", value, "frames/s",
                       range_=value_range, baseline="rosbags read + deserialize_cdr (same bag, same rep)",
                       ratio=ratio, ratio_range=ratio_range, target=">= 200000", target_on="value")
            sizes = f"{args.small:,} msgs: {small_run['rss_mib']:.0f} MiB" + (
                f"; {args.huge:,} msgs: {huge_run['rss_mib']:.0f} MiB" if huge_run else "")
            record.add(f"valence_analyze peak RSS, {args.messages:,}-msg {storage} bag", round(best["rss_mib"], 1),
                       "MiB", note=sizes)
            results[storage] = entry
            print(json.dumps(entry, indent=2), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'format':8} {'end-to-end/s':>13} {'frames phase/s':>15} "
          f"{'rosbags read+deser/s':>21} {'ratio':>6} {'RSS small':>9} {'RSS 1M':>7} {'RSS huge':>8}")
    for storage, e in results.items():
        print(f"{storage:8} {e['frames_per_s_end_to_end']:>13,} "
              f"{e['frames_per_s_frames_phase']:>15,} "
              f"{e.get('baseline_rosbags_read_deserialize_msgs_per_s', 0):>21,} "
              f"{e.get('speedup_vs_baseline', 0):>6} {e['small_peak_rss_mib']:>8.0f}M {e['peak_rss_mib']:>6.0f}M "
              f"{e.get('huge_peak_rss_mib', 0):>7.0f}M")
    target = 200_000
    for storage, e in results.items():
        verdict = "meets" if e["frames_per_s_end_to_end"] >= target else "MISSES"
        print(f"{storage}: {verdict} the {target:,} frames/s end-to-end target")
    record.details = {"results": results}
    print(f"wrote {record.write(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
