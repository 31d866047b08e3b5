#!/usr/bin/env python3
"""Per-message cost of valence_node's hot path, cold and warm, before/after style.

At a camera's frame rate (30 Hz) the node sleeps ~33 ms between messages while
other processes run, so every message finds the CPU caches (data, instruction,
branch predictors) cold: a numpy call that takes 1 us in a tight loop can then
take 10-30 us. This bench reproduces that: before each timed call it touches a
few MB of memory and runs unrelated Python code, then times ONE call of one
variant. Variants are interleaved round-robin, so machine noise hits them alike;
report ratios, not absolute numbers.

Stages (each timed alone):
  canonical_numpy   the previous to_canonical (numpy on np.frombuffer of the field),
                    kept here as the reference
  canonical         valence_ros.core.preprocessing.to_canonical on the array.array('f')
                    the message field is (what the node does now)
  predict_one       FastRegressor.predict_one on a canonical vector
  tracker           FaceTracker.update
  pipeline_numpy    frombuffer + canonical_numpy + predict_one + clip + tracker
  pipeline          canonical + predict_one + clip + tracker (the node's _process
                    minus publish)

    python bench/bench_hot_path.py                # ~20 s
    python bench/bench_hot_path.py --rounds 200 --evict-mb 4
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from array import array
from pathlib import Path

import numpy as np

import benchlib  # bench/ is the script's directory, on sys.path
from valence_ros.core.emotions import NUM_EMOTIONS
from valence_ros.core.face_tracker import FaceTracker, TrackerConfig
from valence_ros.model.fast_inference import FastRegressor
from valence_ros.core.labels import resolve_labels
from valence_ros.core.preprocessing import to_canonical

REPO = Path(__file__).resolve().parents[1]
HAPPY = [0.02, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01]


def to_canonical_numpy(values, label_map, sum_tolerance):
    """The per-frame path before the builtins rewrite (numpy on a float32 array)."""
    if values.shape[0] != label_map.input_length:
        return None, "wrong_length"
    total = float(values.sum(dtype=np.float64))
    if not math.isfinite(total):
        return None, "non_finite"
    if values.min() < 0.0:
        return None, "negative"
    if total == 0.0:
        return None, "zero_sum"
    if abs(total - 1.0) > sum_tolerance:
        return None, "bad_sum"
    if label_map.is_identity:
        out = np.array(values, dtype=np.float32)
    else:
        out = np.zeros(NUM_EMOTIONS, dtype=np.float32)
        out[label_map.target] = values[label_map.source]
    kept = out.sum(dtype=np.float64)
    if kept <= 0.0:
        return None, "no_known_emotion"
    out /= np.float32(kept)
    return out, None


class Evictor:
    """Unrelated work between messages: touch `mb` MB, run some generic Python."""

    def __init__(self, mb: float):
        n = max(1, int(mb * 1024 * 1024))
        self.src = bytearray(random.randbytes(n))
        self.dst = bytearray(n)
        self.words = [f"w{i}" for i in range(2000)]

    def __call__(self):
        self.dst[:] = self.src                      # memcpy: evicts data caches
        self.dst[::4096] = self.src[1::4096]
        d = {w: len(w) for w in self.words}          # some interpreter/dict work
        sorted(self.words, key=d.__getitem__, reverse=True)
        json.dumps(d)


def make_stages(label_spec):
    label_map = resolve_labels(label_spec, allow_preset=True)
    probs = HAPPY if label_map.is_identity else (
        np.random.default_rng(0).dirichlet(np.ones(label_map.input_length)).tolist())
    field = array("f", probs)  # what rclpy hands the node for a float32[] field
    model = FastRegressor.load()
    predict = model.predict_one
    tracker_old = FaceTracker(TrackerConfig())
    tracker_new = FaceTracker(TrackerConfig())
    vector = to_canonical(field, label_map, 0.05)[0]
    state = {"t_old": 0, "t_new": 0}
    frombuffer, f32 = np.frombuffer, np.float32

    def canonical_numpy():
        to_canonical_numpy(frombuffer(field, dtype=f32), label_map, 0.05)

    def canonical():
        to_canonical(field, label_map, 0.05)

    def predict_one():
        predict(vector)

    def tracker():
        state["t_new"] += 33_000_000
        tracker_new.update("bench", state["t_new"], 0.3, state["t_new"])

    def pipeline_numpy():
        v, _ = to_canonical_numpy(frombuffer(field, dtype=f32), label_map, 0.05)
        y = predict(v)
        raw = 1.0 if y > 1.0 else (-1.0 if y < -1.0 else y)
        state["t_old"] += 33_000_000
        tracker_old.update("bench", state["t_old"], raw, state["t_old"])

    def pipeline():
        v, _ = to_canonical(field, label_map, 0.05)
        y = predict(v)
        raw = 1.0 if y > 1.0 else (-1.0 if y < -1.0 else y)
        state["t_new"] += 33_000_000
        tracker_new.update("bench", state["t_new"], raw, state["t_new"])

    a = to_canonical_numpy(frombuffer(field, dtype=f32), label_map, 0.05)[0]
    assert a.tobytes() == vector.tobytes(), "reference and current to_canonical disagree"
    return {f.__name__: f for f in
            (canonical_numpy, canonical, predict_one, tracker, pipeline_numpy, pipeline)}


def measure(stages, rounds, evict, period_s, warm_reps):
    names = list(stages)
    cold = {n: [] for n in names}
    pc = time.perf_counter_ns
    for _r in range(rounds):
        order = names[:]
        random.shuffle(order)
        for name in order:
            fn = stages[name]
            evict()
            if period_s:
                time.sleep(period_s)
            t0 = pc()
            fn()
            cold[name].append((pc() - t0) / 1e3)
    warm = {n: [] for n in names}
    for _ in range(7):
        for name in names:
            fn = stages[name]
            for _ in range(50):
                fn()
            t0 = pc()
            for _ in range(warm_reps):
                fn()
            warm[name].append((pc() - t0) / 1e3 / warm_reps)
    return cold, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--evict-mb", type=float, default=8.0)
    parser.add_argument("--sleep-ms", type=float, default=0.0,
                        help="also sleep this long before each timed call (other processes run)")
    parser.add_argument("--warm-reps", type=int, default=2000)
    parser.add_argument("--labels", nargs="*", default=[],
                        help="input label order (default canonical); e.g. --labels ferplus")
    parser.add_argument("--out", type=Path, default=None, help="default: bench_results/hot_path.json")
    parser.add_argument("--smoke", action="store_true", help="seconds: few rounds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.warm_reps = 20, 50

    random.seed(1)
    stages = make_stages(args.labels)
    cold, warm = measure(stages, args.rounds, Evictor(args.evict_mb), args.sleep_ms / 1e3,
                         args.warm_reps)
    result = {}
    print(f"{'stage':16s} {'cold p50 us':>11s} {'cold p90 us':>11s} {'warm us':>8s}")
    for name in stages:
        c = sorted(cold[name])
        result[name] = {"cold_us_p50": statistics.median(c),
                        "cold_us_p90": c[int(len(c) * 0.9)],
                        "warm_us": min(warm[name])}
        r = result[name]
        print(f"{name:16s} {r['cold_us_p50']:11.2f} {r['cold_us_p90']:11.2f} {r['warm_us']:8.2f}")
    ratios = {}
    for new, old in (("canonical", "canonical_numpy"), ("pipeline", "pipeline_numpy")):
        ratios[new] = {k: result[new][k] / result[old][k] for k in result[new]}
        print(f"{new} / {old}: cold p50 x{ratios[new]['cold_us_p50']:.2f}, "
              f"cold p90 x{ratios[new]['cold_us_p90']:.2f}, warm x{ratios[new]['warm_us']:.2f}")
    record = benchlib.Result("hot_path")
    for kind, key in (("cold caches, median", "cold_us_p50"), ("cold caches, p90", "cold_us_p90"),
                      ("warm loop", "warm_us")):
        record.add(f"per-frame core path (validation + model + smoothing + state), {kind}",
                   result["pipeline"][key], "us", baseline="numpy-per-step version (pipeline_numpy)",
                   ratio=ratios["pipeline"][key])
    record.details = {"labels": args.labels, "rounds": args.rounds, "evict_mb": args.evict_mb,
                      "stages": result, "ratios": ratios}
    print(f"[bench] wrote {record.write(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
