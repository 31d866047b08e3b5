"""valence_analyze on a whole study: mixed inputs (sqlite3, MCAP, FaceReader CSV, a corrupt
bag) in, the study tables out with known contents; --jobs 1 == --jobs 2 byte for byte;
frames.parquet == the per-input CSVs; per-input outputs == single-input runs."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from test_analyze_cli import BASE, ep_topic, run, session, truncate, write_bag, write_facereader

SEC = 1_000_000_000
FACE_TIMEOUT_NS = 2 * SEC          # the default face_timeout
# `python -P`: the installed valence_ros, not the source tree in the working directory
# (Python 3.10 has no -P: the pure-tests run there starts pytest outside the repository).
SAFE_PATH = ["-P"] if sys.version_info >= (3, 11) else []
IGNORED_SUMMARY_KEYS = ("timing_s", "frames_per_s", "torch_imported")   # process properties


def make_study(root: Path) -> dict[str, Path]:
    """Four inputs under root (one in a subfolder), by expected session name."""
    root.mkdir()
    both = session(300, faces=("alice", "bob"), seed=1)
    # bob leaves for ~3.3 s (> face_timeout) and comes back: the tracker forgets him
    both = [f for f in both if not (f[1] == "bob" and 100 <= (f[2] - BASE) // 33_333_333 < 200)]
    inputs = {
        "p01": write_bag(root / "p01", "sqlite3", {"/emotion_probabilities": ep_topic(both)}),
        "p02": write_bag(root / "p02", "mcap", {"/fer/emotion_probabilities": ep_topic(session(200, faces=("",), seed=2))}),
    }
    (root / "exports").mkdir()
    rng = np.random.default_rng(5)
    rows = [(i * 40_000_000, list(rng.random(7) * (0.2 + 0.8 * (i % 60 > 30)))) for i in range(150)]
    inputs["p03"] = write_facereader(root / "exports" / "p03.txt", rows)
    broken = write_bag(root / "p04", "sqlite3", {"/emotion_probabilities": ep_topic(session(3000, seed=4))})
    truncate(broken / "p04.db3")
    inputs["p04"] = broken
    (root / "exports" / "notes.txt").write_text("not an export: skipped by the folder search\n")
    return inputs


def read_rows(path: Path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def naive_episodes(frames, lost):
    """Oracle: frames (face, stamp, state) in arrival order; lost(face, i) = the tracker forgot the
    face before its i-th frame. Returns (face, state, start, end) sorted by face, start."""
    out, current = [], {}
    for face, stamp, state in frames:
        i = current.get(face, (None, 0))[1]
        run_ = current.get(face, (None, 0))[0]
        new = lost(face, i)
        if run_ is not None and (new or state != run_[0]):
            out.append((face, run_[0], run_[1], run_[2] if new else max(run_[2], stamp)))
            run_ = None
        if run_ is None:
            run_ = [state, stamp, stamp]
        run_[2] = max(run_[2], stamp)
        current[face] = (run_, i + 1)
    for face, (run_, _) in current.items():
        out.append((face, run_[0], run_[1], run_[2]))
    return sorted(out, key=lambda e: (e[0], e[2]))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = tmp_path_factory.mktemp("study")
    inputs = make_study(base / "data")
    runs = {}
    for jobs in (2, 1):
        out = base / f"out_jobs{jobs}"
        proc = subprocess.run([sys.executable, *SAFE_PATH, "-m", "valence_ros.offline.analyze", str(base / "data"),
                               "--out", str(out), "--jobs", str(jobs)],
                              capture_output=True, text=True, timeout=300)
        runs[jobs] = (proc, out)
    return base, inputs, runs


def test_one_bad_input_is_reported_and_the_others_complete(study):
    _, inputs, runs = study
    proc, out = runs[2]
    assert proc.returncode == 3, proc.stderr
    failed = [line for line in proc.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].startswith("p04 ") and "p04.db3" in failed[0]
    assert "3 of 4 inputs analysed (1 failed)" in proc.stdout
    info = json.loads((out / "study.json").read_text())
    status = {e["session"]: e["status"] for e in info["inputs"]}
    assert status == {"p01": "ok", "p02": "ok", "p03": "ok", "p04": "failed"}
    bad = next(e for e in info["inputs"] if e["session"] == "p04")
    assert "\n" not in bad["error"] and "p04.db3" in bad["error"] and "output" not in bad
    assert info["totals"]["ok"] == 3 and info["totals"]["failed"] == 1 and info["totals"]["jobs"] == 2
    assert info["parameters"]["face_timeout"] == 2.0
    assert sorted(p.name for p in out.iterdir()) == [
        "episodes.csv", "frames.parquet", "p01_valence", "p02_valence", "p03_valence",
        "sessions.csv", "study.json"]


def test_per_input_outputs_equal_single_input_runs(study, tmp_path, capsys):
    _, inputs, runs = study
    _, out = runs[2]
    for name in ("p01", "p02", "p03"):
        alone = tmp_path / name
        code, _, stderr = run([inputs[name], "--out", alone, "-q"], capsys)
        assert code == 0, stderr
        mine = out / f"{name}_valence"
        assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in alone.iterdir())
        assert (mine / "valence.csv").read_bytes() == (alone / "valence.csv").read_bytes()
        a, b = (json.loads((d / "summary.json").read_text()) for d in (mine, alone))
        for key in IGNORED_SUMMARY_KEYS:
            a.pop(key), b.pop(key)
        assert a == b
        assert sorted(p.name for p in (mine / "plots").iterdir()) == sorted(p.name for p in (alone / "plots").iterdir())


def test_jobs_1_and_jobs_2_give_the_same_bytes(study):
    _, _, runs = study
    (p2, out2), (p1, out1) = runs[2], runs[1]
    assert p1.returncode == p2.returncode == 3
    for name in ("sessions.csv", "episodes.csv"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()
    assert pq.read_table(out1 / "frames.parquet").equals(pq.read_table(out2 / "frames.parquet"))
    for name in ("p01", "p02", "p03"):
        assert (out1 / f"{name}_valence" / "valence.csv").read_bytes() == \
            (out2 / f"{name}_valence" / "valence.csv").read_bytes()


def test_frames_parquet_equals_the_per_input_csvs(study):
    _, _, runs = study
    _, out = runs[2]
    frames = pd.read_parquet(out / "frames.parquet")
    assert list(frames.columns) == ["session", "face_id", "stamp_ns", "valence", "raw_valence", "state"]
    assert str(frames["stamp_ns"].dtype) == "int64" and str(frames["state"].dtype) == "int8"
    assert str(frames["valence"].dtype) == "float32"
    assert list(dict.fromkeys(frames["session"].astype(str))) == ["p01", "p02", "p03"]
    assert pq.ParquetFile(out / "frames.parquet").metadata.num_row_groups >= 1
    for name in ("p01", "p02", "p03"):
        header, rows = read_rows(out / f"{name}_valence" / "valence.csv")
        rows = sorted(rows, key=lambda r: (r[1], int(r[0])))      # stable: arrival order on ties
        mine = frames[frames["session"] == name]
        assert len(mine) == len(rows) > 0
        got = [[str(s), f, f"{v:.9f}", f"{r:.9f}", str(st)] for s, f, v, r, st in zip(
            mine["stamp_ns"], mine["face_id"].astype(str), mine["valence"].astype("float64"),
            mine["raw_valence"].astype("float64"), mine["state"])]
        assert got == rows


def test_episodes_and_sessions_have_the_known_contents(study):
    _, _, runs = study
    _, out = runs[2]
    _, episodes = read_rows(out / "episodes.csv")
    header, sessions = read_rows(out / "sessions.csv")
    assert header[:4] == ["session", "face_id", "frames", "duration_s"]
    assert [(r[0], r[1]) for r in sessions] == [("p01", "alice"), ("p01", "bob"), ("p02", ""), ("p03", "")]
    for name in ("p01", "p02", "p03"):
        _, rows = read_rows(out / f"{name}_valence" / "valence.csv")
        frames = [(r[1], int(r[0]), int(r[4])) for r in rows]
        stamps = {}
        for face, stamp, _ in frames:
            stamps.setdefault(face, []).append(stamp)

        def lost(face, i, stamps=stamps):   # the only gap longer than face_timeout is bob's
            return i == 0 or stamps[face][i] - stamps[face][i - 1] > FACE_TIMEOUT_NS
        want = naive_episodes(frames, lost)
        mine = [(r[1], int(r[2]), int(r[3]), int(r[4])) for r in episodes if r[0] == name]
        assert mine == want
        for r in episodes:
            assert float(r[5]) == pytest.approx((int(r[4]) - int(r[3])) / 1e9, abs=1e-9)
        summary = json.loads((out / f"{name}_valence" / "summary.json").read_text())
        for face in summary["faces"]:
            row = next(r for r in sessions if r[0] == name and r[1] == face["face_id"])
            assert int(row[2]) == face["frames"]
            assert float(row[4]) == pytest.approx(face["valence_mean"], abs=1e-9)
            assert float(row[5]) == pytest.approx(face["valence_min"], abs=1e-9)
            assert float(row[7]) == pytest.approx(face["state_share"]["NEGATIVE"], abs=1e-9)
            counts = [sum(1 for e in want if e[0] == face["face_id"] and e[1] == s) for s in (-1, 0, 1)]
            assert [int(x) for x in row[10:13]] == counts
            face_frames = [f for f in frames if f[0] == face["face_id"]]
            first_pos = next((s for _, s, st in face_frames if st == 1), None)
            want_pos = "" if first_pos is None else f"{(first_pos - face_frames[0][1]) * 1e-9:.9f}"
            assert row[13] == want_pos
    bob = [e for e in episodes if e[0] == "p01" and e[1] == "bob"]
    assert any(int(b[3]) - int(a[4]) > FACE_TIMEOUT_NS for a, b in zip(bob, bob[1:]))   # the gap is in no episode


def test_study_usage_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, stderr = run([tmp_path / "empty", "--out", tmp_path / "o", "-q"], capsys)
    assert code == 2 and stderr.count("\n") == 1 and "no bags or CSV/TSV exports" in stderr
    data = tmp_path / "data"
    data.mkdir()
    write_bag(data / "a", "mcap", {"/emotion_probabilities": ep_topic(session(20, faces=("a",)))})
    write_bag(data / "b", "mcap", {"/emotion_probabilities": ep_topic(session(20, faces=("b",)))})
    code, _, stderr = run([data / "a", "--out", data / "a" / "o", "-q"], capsys)
    assert code == 2 and "must not contain or be inside the input" in stderr
    code, _, stderr = run([data / "a", data / "b", "--out", data / "b" / "o", "-q"], capsys)
    assert code == 2 and "must not contain or be inside an input" in stderr
    assert not list((data / "b").glob("o*"))
    # a study's output inside the searched folder is not taken for input by the next search
    for out in ("o", "o2"):
        code, _, stderr = run([data, "--out", data / out, "-q"], capsys)
        assert code == 0, stderr
        inputs = json.loads((data / out / "study.json").read_text())["inputs"]
        assert [(e["session"], e["status"]) for e in inputs] == [("a", "ok"), ("b", "ok")]
    code, _, stderr = run([data / "a", data / "b", "--out", tmp_path / "o", "-q", "--jobs", "0"], capsys)
    assert code == 2 and "--jobs must be at least 1" in stderr
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob("o.tmp-*"))


def _study_process(data: Path, out: Path, *extra):
    return subprocess.Popen([sys.executable, *SAFE_PATH, "-m", "valence_ros.offline.analyze", str(data), "--out", str(out),
                             "-q", *map(str, extra)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _workers(proc) -> list:
    import psutil
    try:
        children = psutil.Process(proc.pid).children()
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if "spawn_main" in " ".join(c.cmdline())]


def _wait_for_worker(proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = _workers(proc)
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError("no worker process appeared")


def test_a_worker_that_dies_fails_its_input_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a", "b"):
        write_bag(data / name, "mcap", {"/emotion_probabilities": ep_topic(session(300, faces=(name,)))})
    proc = _study_process(data, tmp_path / "o", "--jobs", "1")
    worker = _wait_for_worker(proc)
    worker.kill()                     # the worker holding input "a" (inputs go in session order)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "a: FAILED: the worker process died" in stderr
    inputs = json.loads((tmp_path / "o" / "study.json").read_text())["inputs"]
    assert [(e["session"], e["status"]) for e in inputs] == [("a", "failed"), ("b", "ok")]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "b_valence", "episodes.csv", "frames.parquet", "sessions.csv", "study.json"]


# The delays sweep the second worker's start and the first one's bootstrap (a SIGTERM
# there used to leave a worker printing a traceback).
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.25])
def test_sigterm_stops_the_workers_and_leaves_no_output(tmp_path, delay):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a", "b", "c"):
        write_bag(data / name, "sqlite3", {"/emotion_probabilities": ep_topic(session(300, faces=(name,)))})
    proc = _study_process(data, tmp_path / "o", "--jobs", "2")
    worker = _wait_for_worker(proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "terminated; no output written" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob("o.tmp-*"))
    worker.wait(timeout=10)           # raises if it is still running


def test_a_fifo_among_the_inputs_fails_alone_and_the_folder_search_skips_it(tmp_path, capsys):
    import os
    data = tmp_path / "data"
    data.mkdir()
    write_bag(data / "a", "mcap", {"/emotion_probabilities": ep_topic(session(30, faces=("a",)))})
    os.mkfifo(data / "pipe.mcap")
    code, _, stderr = run([data / "a", data / "pipe.mcap", "--out", tmp_path / "o", "-q", "--jobs", "1"], capsys)
    assert code == 3, stderr
    inputs = json.loads((tmp_path / "o" / "study.json").read_text())["inputs"]
    assert [(e["session"], e["status"]) for e in inputs] == [("a", "ok"), ("pipe", "failed")]
    assert "pipe.mcap" in inputs[1]["error"]
    code, _, stderr = run([data, "--out", tmp_path / "o2", "-q", "--jobs", "1"], capsys)
    assert code == 0, stderr
    assert [e["session"] for e in json.loads((tmp_path / "o2" / "study.json").read_text())["inputs"]] == ["a"]


def test_an_input_with_several_topics_gives_one_session_per_topic(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write_bag(data / "two", "sqlite3", {"/left/emotion_probabilities": ep_topic(session(40, faces=("x",), seed=1)),
                                        "/right/emotion_probabilities": ep_topic(session(30, faces=("x",), seed=2))})
    write_bag(data / "one", "mcap", {"/emotion_probabilities": ep_topic(session(20, faces=("y",)))})
    code, _, stderr = run([data, "--out", tmp_path / "o", "-q", "--jobs", "1", "--no-plots"], capsys)
    assert code == 0, stderr
    _, sessions = read_rows(tmp_path / "o" / "sessions.csv")
    assert [(r[0], r[1], r[2]) for r in sessions] == [
        ("one", "y", "20"), ("two:/left/emotion_probabilities", "x", "40"),
        ("two:/right/emotion_probabilities", "x", "30")]
    frames = pd.read_parquet(tmp_path / "o" / "frames.parquet")
    assert frames.groupby(frames["session"].astype(str)).size().to_dict() == {
        "one": 20, "two:/left/emotion_probabilities": 40, "two:/right/emotion_probabilities": 30}
    info = json.loads((tmp_path / "o" / "study.json").read_text())
    assert info["inputs"][1]["sessions"] == ["two:/left/emotion_probabilities", "two:/right/emotion_probabilities"]
    assert not (tmp_path / "o" / "two_valence" / "plots").exists()


def test_a_worker_keeps_nothing_of_an_input_it_finished(tmp_path):
    """Memory per job is bounded by one input: nothing of a finished analysis stays reachable."""
    import gc
    from valence_ros.offline.outputs import OutputSink
    from valence_ros.offline.report import FaceStats
    from valence_ros.offline.study_worker import run_input
    from valence_ros.core.parameters import validate_parameters
    options = {"topic": None, "params_file": None, "node": "/valence_node", "storage": None, "no_plots": False,
               "batch_size": 64}
    for i in range(3):
        bag = write_bag(tmp_path / f"b{i}", "sqlite3", {"/emotion_probabilities": ep_topic(session(100, seed=i))})
        result = run_input({"index": i, "session": f"b{i}", "path": str(bag), "is_csv": False,
                            "out": str(tmp_path / f"o{i}"), "spill": str(tmp_path / f"{i}.arrow"),
                            "options": options, "params": validate_parameters({})}, lambda n: None)
        assert result["status"] == "ok", result
        gc.collect()
        assert not [o for o in gc.get_objects() if type(o) in (OutputSink, FaceStats)]
