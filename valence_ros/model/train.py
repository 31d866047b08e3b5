"""``valence_train``: train the valence MLP reproducibly on synthetic FER data.

Two recipes, same architecture (7 -> 64 -> 32 -> 1, ReLU), same loss (MSE):

* ``--recipe seed`` - the seed model card's recipe as far as the card
  states it: Adam (lr 1e-3, constant), MSE, 20 epochs, mini-batches of 32,
  trained on low-expressiveness frames only.
* ``--recipe default`` (the default, and how the shipped weights were made):
  more data (low-expressiveness frames plus a broad "simplex coverage" set
  with one-hot corners, near-one-hot, pairwise mixes and Dirichlet samples,
  so the function is right at the corners and off-domain), larger batches,
  and a one-cycle learning-rate schedule (Adam, peak lr 3e-3, cosine
  annealing), 40 epochs.

Validation and test are held-out low-expressiveness frames drawn with
independent seeds; the shift set is the high-expressiveness preset (never
trained on). Every random stream derives from ``--seed`` through
``numpy.random.SeedSequence`` and training runs single-threaded with
deterministic algorithms.

Reproducibility (docs/platforms.md): the same seed gives the same bytes on
the same machine with the same library versions (any process, any run).
Across CPUs only the metrics are promised, within CROSS_CPU_METRIC_TOLERANCE:
torch and MKL (the BLAS inside the torch wheel) pick their kernels by CPU, and
different kernels round differently; over 40 epochs that leads to other
weights (the same function within ~1e-4). Measured: the shipped weights
(AMD EPYC) retrained on an Intel Xeon with AVX-512/AMX give other bytes and
metrics within 1e-4. This module still pins MKL to its AVX2 code path
(MKL_CBWR=AVX2, Intel's "conditional numerical reproducibility") before torch
first runs, unless MKL_CBWR is set already: fewer code paths then differ between
CPUs (MKL's AVX-512 branch, which Intel AVX-512 CPUs take unpinned, is out). The pin
only takes effect if nothing in the process ran an MKL routine before
(valence_train: always). test_training.py checks both claims on the CPU code
paths it can select on the machine it runs on.

Outputs in ``--out DIR``: ``valence_regressor.pt`` (plain state_dict, keys
``model.N.*``, loadable with ``torch.load(..., weights_only=True)``), the
same tensors as ``valence_regressor.safetensors`` (what the node and
``valence_analyze`` load by default, without torch), ``config.json`` and
``training_report.json`` (MAE, RMSE, R2, CCC on validation, test and shift,
one-hot checks, all settings, sha256 of both weights files).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from valence_ros.core.emotions import EMOTIONS, NUM_EMOTIONS
from valence_ros.model.metrics import regression_report
from valence_ros.model.synthetic_data import (
    HIGH_EXPRESSIVENESS,
    LOW_EXPRESSIVENESS,
    generate_frames,
    simplex_coverage,
)
from valence_ros.model.valence_rule import MEHRABIAN_WEIGHTS, label

if TYPE_CHECKING:   # mlp imports torch; train imports it only when training
    from valence_ros.model.mlp import MLPRegressor

# Read by MKL when it first runs (see the module docstring).
os.environ.setdefault("MKL_CBWR", "AVX2")

__all__ = ["TrainConfig", "RECIPES", "CARD_METRICS", "TARGETS", "CROSS_CPU_METRIC_TOLERANCE", "build_datasets",
           "train", "main"]

WEIGHTS_NAME = "valence_regressor.pt"
SAFETENSORS_NAME = "valence_regressor.safetensors"   # same tensors, read without torch
REPORT_NAME = "training_report.json"

# The seed model card's evaluation table. Its test "RMSE 0.00035" is
# inconsistent with its validation RMSE 0.033 and R2; it is most likely an
# MSE (sqrt = 0.0187). Quoted as printed.
CARD_METRICS = {
    "validation": {"mae": 0.018, "rmse": 0.033, "r2": 0.9928},
    "test": {"rmse_as_printed": 0.00035, "r2": 0.9922},
}

# What valence_train promises across CPUs (see the module docstring): the same
# seed gives metrics within these absolute differences on any x86-64 CPU. Widest
# difference measured with the default recipe between 2 CPU models and 4 emulated
# code paths: MAE 5e-5, RMSE 1.1e-4, R2 2e-6, CCC 1e-6 (docs/platforms.md).
CROSS_CPU_METRIC_TOLERANCE = {"mae": 2e-4, "rmse": 2e-4, "r2": 1e-5, "ccc": 1e-5}
REPRODUCIBILITY = ("same seed, same machine, same library versions (platform, versions): same bytes; "
                   "other CPUs: metrics within cross_cpu_metric_tolerance (docs/platforms.md)")

# Issue #2 acceptance targets on the held-out low-expressiveness test set.
TARGETS = {"mae_max": 0.009, "rmse_max": 0.015, "r2_min": 0.998, "ccc_min": 0.998}


@dataclass
class TrainConfig:
    """All settings of one training run (recorded in the report)."""

    recipe: str = "default"
    seed: int = 0
    rule: str = "facereader"
    epochs: int = 40
    batch_size: int = 256
    lr: float = 3e-3
    schedule: str = "onecycle"  # "onecycle" | "constant"
    n_train: int = 200_000  # low-expressiveness training frames
    n_coverage: int = 100_000  # extra simplex-coverage training samples
    n_val: int = 20_000
    n_test: int = 50_000
    n_shift: int = 50_000
    threads: int = 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


RECIPES = {
    # The card: 20 epochs, Adam, MSE. lr and batch size are not on the card;
    # 1e-3 is Adam's default and 32 the common default batch size.
    "seed": dict(epochs=20, batch_size=32, lr=1e-3, schedule="constant", n_train=50_000, n_coverage=0),
    "default": dict(epochs=40, batch_size=256, lr=3e-3, schedule="onecycle", n_train=200_000, n_coverage=100_000),
}


def _streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """Independent generators for each data split and the torch seed."""
    ss = np.random.SeedSequence(int(seed))
    names = ("train", "coverage", "val", "test", "shift", "shuffle", "torch")
    return dict(zip(names, ss.spawn(len(names))))


def build_datasets(cfg: TrainConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (X float32 (N, 7), y float32 (N,))} for train/val/test/shift."""
    st = _streams(cfg.seed)
    weights = MEHRABIAN_WEIGHTS if cfg.rule == "weighted" else None

    def lab(X: np.ndarray) -> np.ndarray:
        return label(X.astype(np.float64), cfg.rule, weights).astype(np.float32)

    X_tr = generate_frames(cfg.n_train, LOW_EXPRESSIVENESS, np.random.default_rng(st["train"]))
    if cfg.n_coverage:
        X_cov = simplex_coverage(cfg.n_coverage, np.random.default_rng(st["coverage"]))
        X_tr = np.concatenate([X_tr, X_cov])
    X_val = generate_frames(cfg.n_val, LOW_EXPRESSIVENESS, np.random.default_rng(st["val"]))
    X_te = generate_frames(cfg.n_test, LOW_EXPRESSIVENESS, np.random.default_rng(st["test"]))
    X_sh = generate_frames(cfg.n_shift, HIGH_EXPRESSIVENESS, np.random.default_rng(st["shift"]))
    return {
        "train": (X_tr, lab(X_tr)),
        "validation": (X_val, lab(X_val)),
        "test": (X_te, lab(X_te)),
        "shift": (X_sh, lab(X_sh)),
    }


def _predict(model: MLPRegressor, X: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()[:, 0]


def one_hot_checks(model: MLPRegressor) -> dict:
    eye = np.eye(NUM_EMOTIONS, dtype=np.float32)
    v = _predict(model, eye)
    return {e: float(v[i]) for i, e in enumerate(EMOTIONS)}


def one_hot_ok(checks: dict, rule: str = "facereader") -> bool:
    """The shipped-weights acceptance check (FaceReader rule)."""
    if rule != "facereader":
        return False
    neg = ("sad", "angry", "scared", "disgusted")
    return (
        checks["happy"] > 0.9
        and all(checks[e] < -0.9 for e in neg)
        and abs(checks["neutral"]) < 0.05
    )


def _platform(torch: ModuleType) -> dict:
    """What decides the float rounding: the CPU, the code paths torch and MKL took."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkl_cbwr": os.environ.get("MKL_CBWR"), "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY")}


def train(cfg: TrainConfig, log: Callable[[str], None] | None = None
          ) -> tuple[MLPRegressor, dict]:
    """Train one model; returns ``(model, report_dict)``. Deterministic in ``cfg``."""
    import torch
    from torch import nn

    from valence_ros.model.mlp import MLPRegressor, num_parameters

    if cfg.rule not in ("facereader", "weighted"):
        raise ValueError(f"unknown rule {cfg.rule!r}")
    if cfg.schedule not in ("onecycle", "constant"):
        raise ValueError(f"unknown schedule {cfg.schedule!r}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.n_train + cfg.n_coverage < 1:
        raise ValueError("epochs, batch_size and the training set size must be >= 1")
    log = log or (lambda msg: None)
    t0 = time.perf_counter()
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, int(cfg.threads)))
    torch.use_deterministic_algorithms(True)
    try:
        data = build_datasets(cfg)
        st = _streams(cfg.seed)
        torch_seed = int(st["torch"].generate_state(1)[0])
        torch.manual_seed(torch_seed)
        model = MLPRegressor(input_size=NUM_EMOTIONS)
        X_tr = torch.from_numpy(data["train"][0])
        y_tr = torch.from_numpy(data["train"][1]).unsqueeze(1)
        n = X_tr.shape[0]
        steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = None
        if cfg.schedule == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
                pct_start=0.25, anneal_strategy="cos", div_factor=10.0, final_div_factor=1e3,
            )
        loss_fn = nn.MSELoss()
        shuffle = np.random.default_rng(st["shuffle"])
        history = []
        X_val, y_val = data["validation"]
        for epoch in range(cfg.epochs):
            model.train()
            perm = torch.from_numpy(shuffle.permutation(n))
            total = 0.0
            for i in range(steps_per_epoch):
                idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
                xb, yb = X_tr[idx], y_tr[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                total += loss.item() * xb.shape[0]
            model.eval()
            val_rmse = float(np.sqrt(np.mean((_predict(model, X_val) - y_val) ** 2)))
            history.append({"epoch": epoch + 1, "train_mse": total / n, "val_rmse": val_rmse})
            log(f"epoch {epoch + 1:3d}/{cfg.epochs}  train MSE {total / n:.3e}  val RMSE {val_rmse:.5f}")
        model.eval()
        metrics = {
            split: regression_report(y, _predict(model, X))
            for split, (X, y) in data.items() if split != "train"
        }
        checks = one_hot_checks(model)
        te = metrics["test"]
        report = {
            "recipe": cfg.recipe,
            "config": cfg.to_dict(),
            "architecture": model.config(),
            "num_parameters": num_parameters(model),
            "label_rule": cfg.rule,
            "label_weights": dict(MEHRABIAN_WEIGHTS) if cfg.rule == "weighted" else None,
            "data": {
                "train_domain": LOW_EXPRESSIVENESS.to_dict(),
                "train_coverage_samples": cfg.n_coverage,
                "validation_and_test": LOW_EXPRESSIVENESS.name,
                "shift": HIGH_EXPRESSIVENESS.to_dict(),
                "sizes": {k: int(v[0].shape[0]) for k, v in data.items()},
            },
            "optimizer": {"name": "Adam", "lr": cfg.lr, "schedule": cfg.schedule, "loss": "MSE"},
            "metrics": metrics,
            "one_hot": checks,
            "one_hot_ok": one_hot_ok(checks, cfg.rule),
            "targets": TARGETS,
            "targets_met": (
                cfg.rule == "facereader"
                and te["mae"] <= TARGETS["mae_max"] and te["rmse"] <= TARGETS["rmse_max"]
                and te["r2"] >= TARGETS["r2_min"] and te["ccc"] >= TARGETS["ccc_min"]
            ),
            "card_metrics": CARD_METRICS,
            "history": history,
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "numpy": np.__version__,
            },
            "platform": _platform(torch),
            "reproducibility": REPRODUCIBILITY,
            "cross_cpu_metric_tolerance": CROSS_CPU_METRIC_TOLERANCE,
            "torch_seed": torch_seed,
            "runtime_s": round(time.perf_counter() - t0, 1),
        }
        return model, report
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="valence_train",
        description="Train the 7->64->32->1 valence MLP on seeded synthetic FER data "
        "and write weights, config.json and a JSON metrics report.",
    )
    p.add_argument("--recipe", choices=sorted(RECIPES), default="default",
                   help="'default': more data + one-cycle LR (meets the targets); "
                   "'seed': the model card's 20 epochs, Adam 1e-3, MSE, batch 32")
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument("--rule", choices=("facereader", "weighted"), default="facereader",
                   help="label rule (default facereader: happy - max(sad, angry, scared, disgusted))")
    p.add_argument("--out", type=Path, default=Path("valence_model"),
                   help="output directory (default ./valence_model)")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    p.add_argument("--lr", type=float, help="override the recipe's (peak) learning rate")
    p.add_argument("--schedule", choices=("onecycle", "constant"), help="override the LR schedule")
    p.add_argument("--n-train", type=int, help="low-expressiveness training frames")
    p.add_argument("--n-coverage", type=int, help="extra simplex-coverage training samples")
    p.add_argument("--n-val", type=int, default=TrainConfig.n_val)
    p.add_argument("--n-test", type=int, default=TrainConfig.n_test)
    p.add_argument("--n-shift", type=int, default=TrainConfig.n_shift)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1; other "
                   "values may change the last digits of the results)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch log")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    kw: dict[str, Any] = dict(RECIPES[args.recipe])
    for name in ("epochs", "batch_size", "lr", "schedule", "n_train", "n_coverage"):
        v = getattr(args, name)
        if v is not None:
            kw[name] = v
    return TrainConfig(recipe=args.recipe, seed=args.seed, rule=args.rule, n_val=args.n_val,
                       n_test=args.n_test, n_shift=args.n_shift, threads=args.threads, **kw)


def _fmt_row(name: str, m: dict) -> str:
    return f"  {name:<11} MAE {m['mae']:.4f}  RMSE {m['rmse']:.4f}  R2 {m['r2']:.5f}  CCC {m['ccc']:.5f}  (n={m['n']})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    if min(cfg.epochs, cfg.batch_size, cfg.n_val, cfg.n_test, cfg.n_shift) < 1 or cfg.n_train < 0 \
            or cfg.n_coverage < 0 or cfg.n_train + cfg.n_coverage < 1 or cfg.lr <= 0 or cfg.threads < 1:
        parser.error("epochs, batch size, threads, learning rate and every dataset size must be positive")
    try:
        import torch  # noqa: F401  (training is torch's job; inference is not)
    except ImportError:
        print("valence_train: training needs torch: pip install 'valence_ros[torch]' (torch==2.13.0)",
              file=sys.stderr)
        return 2
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    log(f"valence_train: recipe={cfg.recipe} seed={cfg.seed} rule={cfg.rule} epochs={cfg.epochs} "
        f"batch={cfg.batch_size} lr={cfg.lr} schedule={cfg.schedule} "
        f"train={cfg.n_train}+{cfg.n_coverage} coverage")
    from valence_ros.model.mlp import save_regressor

    model, report = train(cfg, log=log)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    wpath = save_regressor(model, out / WEIGHTS_NAME)
    spath = save_regressor(model, out / SAFETENSORS_NAME, write_config=False)
    report["weights_file"] = WEIGHTS_NAME
    report["weights_sha256"] = hashlib.sha256(wpath.read_bytes()).hexdigest()
    report["safetensors_file"] = SAFETENSORS_NAME
    report["safetensors_sha256"] = hashlib.sha256(spath.read_bytes()).hexdigest()
    report["command"] = "valence_train " + " ".join(sys.argv[1:] if argv is None else list(argv))
    (out / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {wpath}, {spath}, {out / 'config.json'}, {out / REPORT_NAME}")
    for split in ("validation", "test", "shift"):
        print(_fmt_row(split, report["metrics"][split]))
    print("  one-hot:", ", ".join(f"{k} {v:+.3f}" for k, v in report["one_hot"].items()))
    if cfg.rule == "facereader":
        print(f"  test targets {'met' if report['targets_met'] else 'NOT met'}; "
              f"one-hot checks {'pass' if report['one_hot_ok'] else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
