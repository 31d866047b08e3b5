"""`make bench` keeps working: every bench/bench_*.py runs in its seconds-long --smoke mode
through the same runner, and the merged table and JSON have the documented shape.

No timing is asserted (numbers from a smoke run mean nothing); what is checked is that
each benchmark runs end to end against the installed node and writes its figures.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KNOWN = {"analyze", "hot_path", "inference", "node_latency", "study", "fer_latency"}
FIGURE_KEYS = {"name", "value", "unit", "range", "baseline", "ratio", "ratio_range", "target", "met", "note"}

pytestmark = pytest.mark.ros


def test_every_benchmark_runs_in_smoke_mode(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "run_benches.py"), "--smoke",
                           "--results", str(tmp_path), "--timeout", "240"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["smoke"] is True and not summary["failed"]
    assert set(summary["durations_s"]) == {p.stem for p in (REPO / "bench").glob("bench_*.py")}
    benches = {f["bench"] for f in summary["figures"]}
    assert KNOWN <= benches
    for name in KNOWN:
        doc = json.loads((tmp_path / f"{name}.json").read_text())
        assert {"date", "machine", "load_avg", "figures", "details"} <= set(doc)
        assert doc["figures"], name
        for figure in doc["figures"]:
            assert FIGURE_KEYS <= set(figure), figure
            if figure["value"] is not None:
                assert math.isfinite(figure["value"]), figure
    latency = json.loads((tmp_path / "node_latency.json").read_text())
    # every target answered every frame it was sent in the smoke phases, in both decodings
    targets = {r["target"] for r in latency["details"]["latency"]}
    assert {"echo", "echo_raw", "valence_node", "valence_node_cdr", "seed"} == targets
    assert all(r["received"] > 0 for r in latency["details"]["latency"])
    assert {(s["target"], s["peer_announce"]) for s in latency["details"]["startup"]} == {
        (target, announce) for target in ("echo", "valence_node", "valence_node_cdr")
        for announce in ("fast", "default")}
    assert all(s["first_valence_s"] is not None for s in latency["details"]["startup"])
    # the idle window measured every target's CPU (a node process always uses some)
    assert {r["target"] for r in latency["details"]["idle"]} == targets
    assert all(r["cpu_ms_per_s"] > 0 for r in latency["details"]["idle"])
    # one table: a header row naming ratio and baseline, and a row per figure
    table = (tmp_path / "summary.md").read_text()
    assert "| bench | figure | ratio |" in table
    assert table.count("\n| ") >= 1 + len(summary["figures"])
    assert "SMOKE RUN" in proc.stdout
