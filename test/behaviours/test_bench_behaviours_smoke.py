"""bench/bench_behaviours.py runs (seconds-long smoke version) and writes its JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]


def test_bench_behaviours_smoke(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "bench" / "bench_behaviours.py"),
                             "--repeats", "1", "--calls", "200", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "bench_behaviours.json").read_text())
    assert data["results"]["allocated_bytes_10000x3_updates"]["end_minus_start"] == 0
    assert data["results"]["state_any_min_duration_update_16faces"]["us_per_call_median"] > 0
