"""A study with a design and events, end to end, with known answers: 3 participants x conditions
A and B, each session at a constant, known valence (jittered 30 Hz stamps, one 3 s face loss).
conditions.csv, the paired differences, events.csv, timecourse.csv and the figures are checked
against values computed here from the model's output; the CLI (--jobs 1 and 2, a path pattern)
and the Python API (a design file) write the same files; without a design nothing changes."""
from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pyarrow.parquet as pq
import pytest

from test_analyze_cli import BASE, ep_topic, write_bag
from valence_ros.model.fast_inference import FastRegressor
from valence_ros.offline import StudyOptions, analyze_study
from valence_ros.offline.study_tables import EPISODE_COLUMNS, SESSION_COLUMNS

SEC = 1_000_000_000
PERIOD = SEC // 30
SECONDS = 8
T975 = {2: 4.302652729749464}    # t_{0.975, 2}: three participants
PARTICIPANTS = ("p1", "p2", "p3")
CONDITIONS = ("A", "B")
GAP = (3 * SEC, 6 * SEC)          # B/p3 loses the face for 3 s (> face_timeout 2 s)
MODEL = FastRegressor.load(None)
TABLES = ("sessions.csv", "episodes.csv", "conditions.csv", "events.csv", "timecourse.csv", "event_locked.csv")


def probabilities(i: int, condition: str) -> np.ndarray:
    """Canonical order (Neutral, Happy, Sad, ...): happier in A, a different mood per participant."""
    p = np.full(7, 0.02)
    p[0] += 0.3
    p[1] += (0.5 if condition == "A" else 0.1) + 0.1 * i
    p[2] += (0.1 if condition == "A" else 0.4) + 0.05 * i
    return (p / p.sum()).astype(np.float32)


def known_valence(i: int, condition: str) -> float:
    return float(np.clip(MODEL.predict_one(probabilities(i, condition)), -1.0, 1.0))


def stamps(seed: int, gap: bool) -> np.ndarray:
    k = np.arange(SECONDS * 30)
    t = BASE + k * PERIOD + np.random.default_rng(seed).integers(-2_000_000, 2_000_001, size=len(k))
    if gap:
        rel = t - t[0]
        t = t[(rel < GAP[0]) | (rel >= GAP[1])]
    return t


def make_data(root: Path) -> dict:
    """root/<condition>/<participant>/ bags; returns session -> (stamps, valence)."""
    truth = {}
    for c in CONDITIONS:
        for i, p in enumerate(PARTICIPANTS):
            t = stamps(10 * i + (c == "B"), gap=(c, p) == ("B", "p3"))
            prob = probabilities(i, c)
            frames = [(int(s) + 1_000_000, "face", int(s), (), prob) for s in t]
            write_bag(root / c / p, "mcap", {"/emotion_probabilities": ep_topic(frames)})
            truth[f"{c}/{p}"] = (t, known_valence(i, c))
    return truth


EVENTS = [  # session, label, start_s, end_s, clock
    ("A/p1", "joke", "0", "2", ""),          # at the session's start: the baseline holds nothing
    ("A/p1", "joke", "7", "10", ""),         # past the session's end
    ("A/p1", "cue", "3", "5", "relative"),   # two overlapping windows
    ("A/p1", "cue", "4", "6", "relative"),
    ("B/p3", "joke", "3.5", "5.5", ""),      # inside the face-loss gap: nothing
    ("A/p2", "joke", "2", "", ""),           # no end: window_s
]


def write_events(path: Path, truth) -> Path:
    rows = list(EVENTS)
    start = int(truth["B/p1"][0][0])   # an absolute stamp, 2.5 s into B/p1
    rows.append(("B/p1", "joke", f"{(start + 2_500_000_000) // SEC}.{(start + 2_500_000_000) % SEC:09d}", "", "absolute"))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["session", "label", "start_s", "end_s", "clock"])
        w.writerows(rows)
    return path


def cli(data: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "valence_ros.offline.analyze", str(data), "--out", str(out),
                           "-q", *map(str, extra)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = tmp_path_factory.mktemp("design_study")
    truth = make_data(base / "data")
    events = write_events(base / "events.csv", truth)
    design = base / "design.tsv"
    design.write_text("session\tcondition\tparticipant\n" + "".join(
        f"{c}/{p}\t{c}\t{p}\n" for c in CONDITIONS for p in PARTICIPANTS))
    runs = {}
    for jobs in (2, 1):
        runs[jobs] = cli(base / "data", base / f"out{jobs}", "--design-from-path", "{condition}/{participant}",
                         "--events", events, "--jobs", jobs, "--window-s", 1.5)
    runs["plain"] = cli(base / "data", base / "plain", "--jobs", 2)
    api = analyze_study([base / "data"], base / "api",
                        StudyOptions(design=design, events=events, jobs=2, window_s=1.5))
    return base, truth, runs, api


def rows_of(path: Path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def test_the_runs_succeed_and_list_their_outputs(study):
    base, _, runs, api = study
    for key, proc in runs.items():
        assert proc.returncode == 0, (key, proc.stderr)
    assert api.failed == () and api.path("conditions") == base / "api" / "conditions.csv"
    assert sorted(p.name for p in (base / "out2").iterdir() if not p.name.endswith("_valence")) == [
        "conditions.csv", "episodes.csv", "event_locked.csv", "events.csv", "figures", "frames.parquet",
        "sessions.csv", "study.json", "timecourse.csv"]
    assert api.study["design"]["columns"] == ["condition", "participant"]
    assert api.study["design"]["factors"] == ["condition"]


def test_design_columns_are_joined_into_every_table(study):
    base, truth, _, api = study
    out = base / "out2"
    header = next(csv.reader(open(out / "sessions.csv")))
    assert header == ["session", "condition", "participant", *SESSION_COLUMNS[1:]]
    assert next(csv.reader(open(out / "episodes.csv"))) == ["session", "condition", "participant", *EPISODE_COLUMNS[1:]]
    for row in rows_of(out / "sessions.csv"):
        assert row["session"] == f"{row['condition']}/{row['participant']}"
        assert float(row["valence_mean"]) == pytest.approx(truth[row["session"]][1], abs=1e-6)
    for row in rows_of(out / "episodes.csv"):
        assert row["session"] == f"{row['condition']}/{row['participant']}"
    frames = pq.read_table(out / "frames.parquet").to_pandas()
    assert list(frames.columns[:3]) == ["session", "condition", "participant"]
    assert (frames["session"].astype(str) == frames["condition"].astype(str) + "/" + frames["participant"].astype(str)).all()
    assert len(frames) == sum(len(t) for t, _ in truth.values())
    # the API's DataFrames are these tables
    assert list(api.sessions()["condition"]) == ["A"] * 3 + ["B"] * 3
    assert len(api.frames()) == len(frames)


def test_without_a_design_the_tables_are_what_they_were(study):
    base, _, _, _ = study
    plain, designed = base / "plain", base / "out2"
    assert sorted(p.name for p in plain.iterdir() if not p.name.endswith("_valence")) == [
        "episodes.csv", "frames.parquet", "sessions.csv", "study.json"]
    assert next(csv.reader(open(plain / "sessions.csv"))) == list(SESSION_COLUMNS)
    for name in ("sessions.csv", "episodes.csv"):   # the designed table minus its design columns
        a = [r[:1] + r[3:] for r in csv.reader(open(designed / name))]
        assert a == list(csv.reader(open(plain / name)))
    assert pq.read_table(plain / "frames.parquet").column_names == [
        "session", "face_id", "stamp_ns", "valence", "raw_valence", "state"]
    assert pq.read_table(designed / "frames.parquet").drop_columns(["condition", "participant"]).equals(
        pq.read_table(plain / "frames.parquet"))


def _expect(values):
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
    half = T975[len(values) - 1] * sd / math.sqrt(len(values))
    return [m, sd, m - half, m + half]


def test_conditions_have_the_known_means_differences_and_cis(study):
    base, truth, _, _ = study
    rows = rows_of(base / "out2" / "conditions.csv")
    assert [(r["factor"], r["statistic"], r["level"], r["minus_level"], r["n_sessions"], r["n_participants"], r["n"])
            for r in rows] == [("condition", "session_means", "A", "", "3", "3", "3"),
                               ("condition", "session_means", "B", "", "3", "3", "3"),
                               ("condition", "paired_difference", "A", "B", "6", "3", "3")]
    a = [truth[f"A/{p}"][1] for p in PARTICIPANTS]
    b = [truth[f"B/{p}"][1] for p in PARTICIPANTS]
    for row, values in zip(rows, (a, b, [x - y for x, y in zip(a, b)])):
        got = [float(row[k]) for k in ("mean", "sd", "ci95_low", "ci95_high")]
        assert got == pytest.approx(_expect(values), abs=2e-6)
    assert float(rows[2]["mean"]) > 0.05    # the study was built so that A is happier than B


def test_events_at_edges_overlapping_and_in_a_gap(study):
    base, truth, _, _ = study
    rows = rows_of(base / "out2" / "events.csv")
    assert [(r["session"], r["event"], r["label"], r["clock"]) for r in rows] == [
        ("A/p1", "1", "joke", "relative"), ("A/p1", "2", "joke", "relative"), ("A/p1", "3", "cue", "relative"),
        ("A/p1", "4", "cue", "relative"), ("A/p2", "1", "joke", "relative"), ("B/p1", "1", "joke", "absolute"),
        ("B/p3", "1", "joke", "relative")]
    windows = [(0, 2), (7, 10), (3, 5), (4, 6), (2, 3.5), (2.5, 4.0), (3.5, 5.5)]
    for row, (a, b) in zip(rows, windows):
        t, v = truth[row["session"]]
        start = int(t[0])
        w0, w1 = start + round(a * SEC), start + round(b * SEC)
        assert int(row["start_ns"]) == w0 and int(row["end_ns"]) == w1
        assert float(row["start_s"]) == pytest.approx(a) and float(row["end_s"]) == pytest.approx(b)
        assert row["condition"] == row["session"][0] and row["face_id"] == "face"
        inside = int(((t >= w0) & (t < w1)).sum())
        before = int(((t >= w0 - 5 * SEC) & (t < w0)).sum())
        assert int(row["frames"]) == inside and int(row["baseline_frames"]) == before, row
        if inside:
            assert float(row["valence_mean"]) == pytest.approx(v, abs=1e-6)
            assert float(row["valence_min"]) == pytest.approx(v, abs=1e-6)
        else:
            assert row["valence_mean"] == row["valence_min"] == row["share_positive"] == ""
        if inside and before:
            assert float(row["change_valence_mean"]) == pytest.approx(0.0, abs=1e-6)
        else:
            assert row["change_valence_mean"] == ""
    first, past_end, gap = rows[0], rows[1], rows[6]
    assert first["baseline_frames"] == "0" and first["baseline_covered_s"] == "0.000000000"
    # covered: every interval between frames inside the window (about 2 s, jitter +-2 ms at each end)
    assert float(first["covered_s"]) == pytest.approx(2.0, abs=0.005)
    assert float(past_end["covered_s"]) == pytest.approx(SECONDS - 7 - 1 / 30, abs=0.005)
    assert gap["frames"] == "0" and gap["covered_s"] == "0.000000000"
    for row in rows[:6]:   # one state throughout a constant session: its share is 1
        shares = [float(row[f"share_{s}"]) for s in ("negative", "neutral", "positive")]
        assert sorted(shares) == [0.0, 0.0, 1.0]


def test_timecourse_is_the_mean_of_the_sessions_on_the_grid(study):
    base, truth, _, _ = study
    rows = rows_of(base / "out2" / "timecourse.csv")
    a = np.mean([truth[f"A/{p}"][1] for p in PARTICIPANTS])
    by_t = {(r["level"], float(r["t_s"])): r for r in rows}
    assert float(by_t[("A", 1.0)]["mean"]) == pytest.approx(a, abs=1e-6) and by_t[("A", 1.0)]["n_sessions"] == "3"
    # B/p3's face-loss gap: those bins have two sessions, and the mean of those two
    b12 = np.mean([truth[f"B/{p}"][1] for p in ("p1", "p2")])
    for t_s in (3.5, 4.0, 5.0):
        assert by_t[("B", t_s)]["n_sessions"] == "2" and float(by_t[("B", t_s)]["mean"]) == pytest.approx(b12, abs=1e-6)
    assert by_t[("B", 6.5)]["n_sessions"] == "3"


def test_jobs_cli_and_api_write_the_same_files(study):
    base, _, _, _ = study
    out1, out2, api = base / "out1", base / "out2", base / "api"
    for name in TABLES:
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes() == (api / name).read_bytes(), name
    assert pq.read_table(out1 / "frames.parquet").equals(pq.read_table(out2 / "frames.parquet"))
    assert pq.read_table(api / "frames.parquet").equals(pq.read_table(out2 / "frames.parquet"))
    figures = sorted(p.name for p in (out2 / "figures").iterdir())
    assert figures == sorted(p.name for p in (out1 / "figures").iterdir()) == sorted(
        p.name for p in (api / "figures").iterdir())
    for name in figures:
        assert (out1 / "figures" / name).read_bytes() == (out2 / "figures" / name).read_bytes(), name


def test_figures_exist_with_sane_sizes(study):
    base, _, _, api = study
    names = sorted(p.name for p in (base / "out2" / "figures").iterdir())
    stems = ["condition_means_condition", "event_cue_condition", "event_joke_condition", "timecourse_condition"]
    assert names == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "svg"))
    for name in names:
        data = (base / "out2" / "figures" / name).read_bytes()
        assert 10_000 < len(data) < 2_000_000, (name, len(data))
        if name.endswith(".png"):
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        else:   # well-formed SVG with text and paths
            root = ElementTree.fromstring(data)
            assert root.tag.endswith("svg") and len(list(root.iter())) > 50
    assert [p.name for p in api.figures] == [f"{s}.{e}" for s in (stems[0], stems[3], stems[1], stems[2])
                                             for e in ("png", "svg")]


def test_design_errors_end_the_run_before_it_starts(study, tmp_path):
    base, _, _, _ = study
    bad = tmp_path / "design.csv"
    bad.write_text("session,condition\nA/p1,A\nA/p9,A\n")
    proc = cli(base / "data", tmp_path / "out", "--design", bad)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "design rows that match no session of the study: 'A/p9' (line 3)" in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = cli(base / "data", tmp_path / "out", "--design-from-path", "{condition}", "--by", "group")
    assert proc.returncode == 2 and "--by group: not a design column (columns: condition)" in proc.stderr
    proc = cli(base / "data", tmp_path / "out", "--by", "condition")
    assert proc.returncode == 2 and "--by needs a design" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_design_rows_formulas_factors_and_events_without_design(tmp_path):
    data = tmp_path / "data"
    for i, name in enumerate(("s1", "s2", "s3")):
        t = stamps(i, gap=False)[:90]
        write_bag(data / name, "sqlite3", {"/emotion_probabilities": ep_topic(
            [(int(s) + 1_000_000, "face", int(s), (), probabilities(i, "A")) for s in t])})
    design = tmp_path / "design.csv"
    design.write_text("session,participant,condition,group\ns1,007,=1+2,g1\ns2,007,B,g1\n")
    result = analyze_study(data, tmp_path / "out", StudyOptions(design=design, allow_missing_design=True,
                                                                by=("group", "condition"), jobs=1))
    assert result.failed == () and result.study["design"]["sessions_without_design"] == ["s3"]
    sessions = rows_of(result.path("sessions"))
    assert [(r["session"], r["participant"], r["condition"], r["group"]) for r in sessions] == [
        ("s1", "007", "'=1+2", "g1"), ("s2", "007", "B", "g1"), ("s3", "", "", "")]   # a formula is text
    rows = rows_of(result.path("conditions"))
    assert [(r["factor"], r["statistic"], r["level"], r["minus_level"], r["n"]) for r in rows] == [
        ("group", "session_means", "g1", "", "2"),
        ("condition", "session_means", "'=1+2", "", "1"), ("condition", "session_means", "B", "", "1"),
        ("condition", "paired_difference", "'=1+2", "B", "1")]
    assert rows[1]["sd"] == rows[1]["ci95_low"] == rows[3]["sd"] == ""    # n = 1: no spread
    frame = result.sessions()   # the API reads the text back as written: "007", "=1+2"
    assert list(frame["participant"].fillna("")) == ["007", "007", ""] and frame["condition"][0] == "=1+2"
    assert sorted(p.name for p in result.figures) == sorted(
        f"{s}.{e}" for s in ("condition_means_group", "condition_means_condition", "timecourse_group",
                             "timecourse_condition") for e in ("png", "svg"))

    events = tmp_path / "events.tsv"
    events.write_text("session\tlabel\tstart_s\ns1\tgreet\t1\ns3\tgreet\t0.5\n"
                      "s2:/emotion_probabilities\tgreet\t1\n")   # s2 has one topic: its session is "s2"
    result = analyze_study(data, tmp_path / "events_only", StudyOptions(events=events, jobs=1, baseline_s=0.5))
    assert result.path("conditions") is None and result.conditions() is None
    header = next(csv.reader(open(result.path("events"))))
    assert header[:3] == ["session", "face_id", "event"]
    locked = rows_of(result.path("event_locked"))
    assert {(r["factor"], r["level"], r["label"]) for r in locked} == {("", "", "greet")}
    assert [float(r["t_s"]) for r in locked][:2] == [-0.5, 0.0] and locked[0]["n_sessions"] == "2"
    assert [p.name for p in result.figures] == ["event_greet.png", "event_greet.svg"]
    assert result.study["analysis"]["notes"] == [
        "events with no analysed session (no rows in events.csv): s2:/emotion_probabilities #1 (greet)"]


def test_analyze_recording_writes_what_the_cli_writes(tmp_path):
    import json
    from valence_ros.offline import AnalysisOptions, analyze_recording
    t = stamps(4, gap=True)
    bag = write_bag(tmp_path / "bag", "mcap", {"/emotion_probabilities": ep_topic(
        [(int(s) + 1_000_000, "face", int(s), (), probabilities(1, "B")) for s in t])})
    proc = subprocess.run([sys.executable, "-P", "-m", "valence_ros.offline.analyze", str(bag), "--out",
                           str(tmp_path / "cli"), "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = analyze_recording(bag, tmp_path / "api", AnalysisOptions())
    assert (tmp_path / "cli" / "valence.csv").read_bytes() == result.valence_csv.read_bytes()
    cli_summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    api_summary = json.loads((tmp_path / "api" / "summary.json").read_text())
    for s in (cli_summary, api_summary):
        for key in ("timing_s", "frames_per_s", "torch_imported"):
            s.pop(key)
    assert cli_summary == api_summary
    assert [p.name for p in result.plots] == ["valence_face.png"] and len(result.valence()) == len(t)
