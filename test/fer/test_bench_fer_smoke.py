"""bench/bench_fer.py --smoke runs end to end on the real model and faces and writes its benchlib
JSON (no timing asserted: a smoke run's numbers mean nothing)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_fer_smoke(tmp_path):
    out = tmp_path / "fer.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench_fer.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "warning" not in proc.stderr   # both ways found every face of the composed frames
    doc = json.loads(out.read_text())
    assert doc["bench"] == "fer" and {"date", "machine", "load_avg", "figures", "details"} <= set(doc)
    names = {figure["name"] for figure in doc["figures"]}
    assert {"classify one face crop, p50", "classify one face crop, p99", "640x480, 1 face: frames/s, one core",
            "640x480, 4 faces: frames/s, one core"} <= names
    for figure in doc["figures"]:
        assert figure["value"] is not None and math.isfinite(figure["value"]) and figure["value"] > 0, figure
        if figure["baseline"]:
            assert figure["ratio"] > 0 and figure["ratio_range"][0] <= figure["ratio"] <= figure["ratio_range"][1]
    assert doc["details"]["repeats"] >= 3
