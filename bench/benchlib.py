"""What every bench/bench_*.py writes: bench_results/<name>.json in one shape.

    {"bench": name, "date": ISO-8601 UTC, "machine": {...}, "load_avg": {"start": [...],
     "end": [...]}, "figures": [figure, ...], "details": {... bench-specific ...}}

A figure is one row of `make bench`'s table (bench/run_benches.py):

    {"name": "p50 latency, 30 Hz", "value": 1.23, "unit": "ms", "range": [lo, hi] | null,
     "baseline": "what the ratio divides by" | null, "ratio": 0.97 | null,
     "ratio_range": [lo, hi] | null, "target": "<= 1.10" | null, "target_on": "ratio" | "value",
     "met": true | false | null, "note": "..." | null}

`ratio` is value / baseline measured in the same run (for a rate, a higher ratio is
better: the target then reads ">= ..."). Ranges are min..max over the repetitions.
A bench that writes JSON without "figures" still appears in the table (its numeric
leaves are listed, without ratios). A bench should take `--smoke` (a seconds-long run
for CI, numbers meaningless) and write into $VALENCE_BENCH_RESULTS when it is set
(Result.write does both defaults).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# run_benches.py points every bench at one directory (--smoke runs use a temporary one)
RESULTS = Path(os.environ.get("VALENCE_BENCH_RESULTS") or REPO / "bench_results")


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "hostname": platform.node()}


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def spread(values) -> tuple[float | None, list[float] | None]:
    """(median, [min, max]) of the finite values, or (None, None)."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.median(values), [min(values), max(values)]


def figure(name: str, value, unit: str, *, range_=None, baseline=None, ratio=None,
           ratio_range=None, target=None, target_on="ratio", note=None) -> dict:
    """One table row; `target` ("<= 1.10", ">= 200000") applies to the ratio, or to the
    value with target_on="value"."""
    met = None
    if target is not None:
        check = ratio if target_on == "ratio" else value   # no ratio (no baseline): not judged
        op, bound = target.split()
        if check is not None:
            met = check <= float(bound) if op == "<=" else check >= float(bound)
    return {"name": name, "value": value, "unit": unit, "range": range_, "baseline": baseline,
            "ratio": ratio, "ratio_range": ratio_range, "target": target,
            "target_on": target_on if target is not None else None, "met": met, "note": note}


class Result:
    """Collects figures and details; write() adds date, machine and load average."""

    def __init__(self, bench: str):
        self.bench = bench
        self.start_load = load_avg()
        self.figures: list[dict] = []
        self.details: dict = {}

    def add(self, *args, **kwargs) -> dict:
        item = figure(*args, **kwargs)
        self.figures.append(item)
        return item

    def write(self, path: Path | None = None) -> Path:
        path = Path(path) if path is not None else RESULTS / f"{self.bench}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"bench": self.bench,
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "load_avg": {"start": self.start_load, "end": load_avg()},
               "figures": self.figures, "details": self.details}
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return path
