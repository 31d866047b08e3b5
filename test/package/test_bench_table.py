"""tools/gen_bench_table.py renders bench_results/*.json (bench/benchlib.py's shape) into
docs/performance.md's generated section: a small fixture run through the real script."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "gen_bench_table.py"
MACHINE = {"cpu": "Example CPU @ 2.0GHz", "cpus": 2, "python": "3.11.7", "platform": "Linux", "hostname": "h"}


def figure(name, value, unit, **extra):
    base = {"name": name, "value": value, "unit": unit, "range": None, "baseline": None, "ratio": None,
            "ratio_range": None, "target": None, "target_on": None, "met": None, "note": None}
    return {**base, **extra}


def write_fixture(results: Path) -> None:
    results.mkdir()
    (results / "inference.json").write_text(json.dumps({
        "bench": "inference", "date": "2026-12-05T10:00:00+00:00", "machine": MACHINE,
        "load_avg": {"start": [0.42, 0.5, 0.5], "end": [1.07, 0.9, 0.8]},
        "figures": [figure("predict_one, warm", 2.7, "µs", range=[2.6, 2.9]),
                    figure("predict_one / torch eager", 2.7, "µs", baseline="model(torch.tensor(x))",
                           ratio=0.11, ratio_range=[0.1, 0.12], target="<= 0.5", target_on="ratio", met=True)],
        "details": {}}))
    (results / "node_latency.json").write_text(json.dumps({
        "bench": "node_latency", "date": "2026-12-05T10:05:00+00:00", "machine": MACHINE,
        "load_avg": {"start": [0.3, 0.3, 0.3], "end": [1.0, 1.0, 1.0]},
        "figures": [figure("p50 latency, 30 Hz", 0.76, "ms", range=[0.42, 0.97], baseline="echo",
                           ratio=1.03, ratio_range=[0.83, 1.21], target="<= 1.10", target_on="ratio", met=True)],
        "details": {}}))
    (results / "summary.json").write_text(json.dumps({"smoke": False, "figures": []}))


def document(tmp_path: Path) -> Path:
    doc = tmp_path / "performance.md"
    doc.write_text("# Perf\n\n<!-- BEGIN GENERATED: bench table (tools/gen_bench_table.py) -->\nold\n"
                   "<!-- END GENERATED: bench table -->\n\nafter\n")
    return doc


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_renders_every_figure_with_its_run_conditions(tmp_path):
    results, doc = tmp_path / "bench_results", document(tmp_path)
    write_fixture(results)
    result = run("--results", results, "--document", doc)
    assert result.returncode == 0, result.stderr
    text = doc.read_text()
    assert "old" not in text and text.endswith("after\n")
    assert "Not in these results: `bench_analyze.py`," in text   # the repository's other benches
    assert ("- `inference`: 2026-12-05T10:00:00+00:00, 2 CPUs (Example CPU @ 2.0GHz), "
            "load average 0.42 at start, 1.07 at end") in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| bench | figure | ratio |")
    body = rows[1:]
    assert len(body) == 3
    # figures with a ratio first (as make bench prints them), then the rest
    assert body[0].startswith("| inference | predict_one / torch eager | 0.11 | 0.1–0.12 | <= 0.5 | yes | 2.7 |")
    assert body[1].startswith("| node_latency | p50 latency, 30 Hz | 1.03 | 0.83–1.21 | <= 1.10 | yes | 0.76 |")
    assert body[2].startswith("| inference | predict_one, warm | - |")
    # idempotent: a second run gives the same document
    assert run("--results", results, "--document", doc).returncode == 0
    assert doc.read_text() == text


def test_stdout_changes_no_file(tmp_path):
    results, doc = tmp_path / "bench_results", document(tmp_path)
    write_fixture(results)
    before = doc.read_text()
    result = run("--results", results, "--document", doc, "--stdout")
    assert result.returncode == 0 and "| node_latency | p50 latency, 30 Hz |" in result.stdout
    assert doc.read_text() == before


def test_refuses_missing_results_smoke_runs_bad_json_and_missing_markers(tmp_path):
    doc = document(tmp_path)
    missing = run("--results", tmp_path / "nowhere", "--document", doc)
    assert missing.returncode == 2 and "run `make bench` first" in missing.stderr

    results = tmp_path / "bench_results"
    write_fixture(results)
    (results / "summary.json").write_text(json.dumps({"smoke": True}))
    smoke = run("--results", results, "--document", doc)
    assert smoke.returncode == 2 and "smoke run" in smoke.stderr
    assert run("--results", results, "--document", doc, "--allow-smoke").returncode == 0
    assert "**A smoke run (`--smoke`): the numbers mean nothing.**" in doc.read_text()

    (results / "broken.json").write_text("{not json")
    broken = run("--results", results, "--document", doc, "--allow-smoke")
    assert broken.returncode == 2 and "broken.json: not readable JSON" in broken.stderr
    (results / "broken.json").unlink()

    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n")
    unmarked = run("--results", results, "--document", bare, "--allow-smoke")
    assert unmarked.returncode == 2 and "found 0" in unmarked.stderr
    assert bare.read_text() == "no markers\n"


def test_the_performance_page_has_the_markers():
    text = (REPO / "docs" / "performance.md").read_text(encoding="utf-8")
    assert text.count("<!-- BEGIN GENERATED: bench table (tools/gen_bench_table.py) -->") == 1
    assert text.count("<!-- END GENERATED: bench table -->") == 1
