"""bench/bench_behaviours.py --smoke runs and writes its benchlib JSON (no timing asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]


def test_bench_behaviours_smoke(tmp_path):
    out = tmp_path / "behaviours.json"
    result = subprocess.run([sys.executable, str(REPO / "bench" / "bench_behaviours.py"), "--smoke",
                             "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(out.read_text())
    assert doc["bench"] == "behaviours" and doc["figures"]
    alloc = doc["details"]["results"]["allocated_bytes_10000x3_updates"]
    assert alloc["end_minus_start"] == 0, "ticking a condition must not allocate"
    assert all(f["ratio"] > 0 for f in doc["figures"] if f["baseline"])
