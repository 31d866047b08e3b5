#!/usr/bin/env python3
"""Benchmark valence inference: torch eager vs FastRegressor (numpy).

Per frame (batch 1), all in one run on the shipped weights:
  * baseline   ``model(torch.tensor(x))`` in eager mode (autograd on)
  * the same + ``.item()`` (what a node needs: a Python float)
  * ``torch.no_grad()`` + ``torch.from_numpy`` + ``.item()``
  * ``FastRegressor.predict_one(x)`` (returns a Python float)
Batch throughput (frames/s): torch no_grad on the whole batch vs
``FastRegressor.predict_batch``.

Timing: ``timeit`` with a loop count sized to ~0.2 s per repeat, 7
repeats interleaved across the candidates, median per call reported;
ratios are baseline time / row time.
Torch runs with 1 thread (``--threads`` to change) and numpy's BLAS with 1
(OPENBLAS_NUM_THREADS=1 unless set), so the comparison is single-core. Usage:

    .venv-jazzy/bin/python bench/bench_inference.py [--quick] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Single-threaded numpy BLAS too (must be set before numpy is imported), so
# both sides of the comparison use one core. Override from the environment.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from valence_ros.model.fast_inference import FastRegressor  # noqa: E402
from valence_ros.model.mlp import load_regressor  # noqa: E402
import benchlib  # noqa: E402


def _loops(t: timeit.Timer, target_s: float) -> int:
    n = 1
    while True:  # autorange to ~target_s per repeat
        elapsed = t.timeit(n)
        if elapsed >= target_s / 4:
            return max(1, int(n * target_s / max(elapsed, 1e-9)))
        n *= 4


def per_call(fns, repeats: int, target_s: float) -> list:
    """Median seconds per call for each function.

    Repeats are interleaved (A B C D, A B C D, ...) so that load from other
    processes on a shared machine hits every candidate alike and the ratios
    stay meaningful.
    """
    timers = [timeit.Timer(fn) for fn in fns]
    numbers = [_loops(t, target_s) for t in timers]
    samples = [[] for _ in fns]
    for _ in range(repeats):
        for i, (t, n) in enumerate(zip(timers, numbers)):
            samples[i].append(t.timeit(n) / n)
    return [statistics.median(s) for s in samples]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--batch", type=int, default=100_000, help="frames for the batch rows")
    ap.add_argument("--json", type=Path, default=None, help="default: bench_results/inference.json")
    ap.add_argument("--smoke", action="store_true", help="seconds: tiny batch, short repeats (CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.quick, args.batch = True, 2_000
    record = benchlib.Result("inference")

    torch.set_num_threads(args.threads)
    repeats, target = (3, 0.05) if args.quick else (7, 0.2)

    model = load_regressor()
    fast = FastRegressor.from_module(model, source="shipped default")
    x = np.array([0.01, 0.95, 0.02, 0.01, 0.005, 0.003, 0.001], dtype=np.float32)
    x1 = x[None, :]
    with torch.no_grad():
        ref = model(torch.tensor(x1)).item()
    assert abs(fast.predict_one(x) - ref) < 1e-5, "fast path disagrees with torch"

    def eager():
        return model(torch.tensor(x1))

    def eager_item():
        return model(torch.tensor(x1)).item()

    def nograd_item():
        with torch.no_grad():
            return model(torch.from_numpy(x1)).item()

    predict_one = fast.predict_one

    def fast_one():
        return predict_one(x)

    names = [
        "torch eager  model(torch.tensor(x))  [baseline]",
        "torch eager  + .item()",
        "torch no_grad, from_numpy, .item()",
        "FastRegressor.predict_one(x)",
    ]
    rows = list(zip(names, per_call([eager, eager_item, nograd_item, fast_one], repeats, target)))
    base = rows[0][1]

    X = np.random.default_rng(0).dirichlet(np.full(7, 0.3), size=args.batch).astype(np.float32)
    Xt = torch.from_numpy(X)
    with torch.no_grad():
        diff = float(np.max(np.abs(model(Xt).numpy()[:, 0] - fast.predict_batch(X))))

    def torch_batch():
        with torch.no_grad():
            return model(Xt).numpy()

    def fast_batch():
        return fast.predict_batch(X)

    b_repeats = max(3, repeats // 2)
    t_torch_b, t_fast_b = per_call([torch_batch, fast_batch], b_repeats, target)

    print(f"valence inference benchmark  (python {platform.python_version()}, torch {torch.__version__}, "
          f"numpy {np.__version__}, torch threads {torch.get_num_threads()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')})")
    print(f"{'per frame (batch 1)':<50} {'median us':>10} {'frames/s':>12} {'speed-up':>9}")
    for name, t in rows:
        print(f"{name:<50} {t * 1e6:>10.2f} {1 / t:>12,.0f} {base / t:>8.1f}x")
    print()
    print(f"{'batch of ' + format(args.batch, ',') + ' frames':<50} {'median ms':>10} {'frames/s':>12} {'vs torch':>9}")
    print(f"{'torch no_grad model(X)':<50} {t_torch_b * 1e3:>10.2f} {args.batch / t_torch_b:>12,.0f} {1.0:>8.1f}x")
    print(f"{'FastRegressor.predict_batch(X)':<50} {t_fast_b * 1e3:>10.2f} {args.batch / t_fast_b:>12,.0f} "
          f"{t_torch_b / t_fast_b:>8.1f}x")
    print(f"\nmax |torch - fast| on the batch: {diff:.2e} (contract: <= 1e-5)")
    fast_ratio = base / rows[3][1]
    print(f"predict_one speed-up vs baseline: {fast_ratio:.1f}x (target >= 5x): "
          f"{'OK' if fast_ratio >= 5 else 'BELOW TARGET'}")

    record.add("predict_one per frame (warm loop)", rows[3][1] * 1e6, "us",
               baseline="model(torch.tensor(x)) eager (same run)", ratio=rows[3][1] / base)
    record.add(f"predict_batch, {args.batch:,} frames", args.batch / t_fast_b, "frames/s",
               baseline="torch no_grad model(X) (same run)", ratio=t_torch_b / t_fast_b)
    record.details = {
            "per_frame_us": {name: t * 1e6 for name, t in rows},
            "speedup_predict_one_vs_eager": fast_ratio,
            "batch": {"frames": args.batch, "torch_no_grad_fps": args.batch / t_torch_b,
                      "predict_batch_fps": args.batch / t_fast_b},
            "max_abs_diff": diff,
            "torch_threads": torch.get_num_threads(),
    }
    print(f"[bench] wrote {record.write(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
