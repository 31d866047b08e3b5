"""Study design, events, conditions and time courses as pure logic, with hand-computed answers:
design files and path patterns (every error case), window statistics at edges and over gaps,
condition means / paired differences / t-based CIs, bin means on jittered stamps with gaps."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from valence_ros.offline.conditions import SessionMean, condition_rows, factors_of
from valence_ros.offline.describe import describe, describe_columns
from valence_ros.offline.design import Design, load_design
from valence_ros.offline.errors import AnalyzeError
from valence_ros.offline.events import load_events, window_stats
from valence_ros.offline.study_inputs import StudyInput
from valence_ros.offline.timecourse import bin_means

SEC = 1_000_000_000
T975 = {2: 4.302652729749464, 3: 3.182446305284263, 5: 2.570581835636314}   # t_{0.975, dof}


def inputs(*paths):
    """StudyInputs as collect_inputs names them (the test gives the session names)."""
    return [StudyInput(Path("/data") / p, False, name) for name, p in paths]


STUDY = inputs(("A/p1", "A/p1"), ("A/p2", "A/p2"), ("B/p1", "B/p1"), ("B/p2", "B/p2"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


# ---------------------------------------------------------------- design


def test_design_file_csv_and_tsv_with_bom(tmp_path):
    csv = write(tmp_path, "d.csv", "\ufeffsession,participant,condition\nA/p1,p1,A\nA/p2, p2 ,A\n\nB/p1,p1,B\nB/p2,p2,B\n")
    d = load_design(STUDY, csv)
    assert d.columns == ("participant", "condition")
    assert d.row("A/p2") == ("p2", "A") and d.row("B/p1") == ("p1", "B") and d.missing == ()
    tsv = write(tmp_path, "d.tsv", "session\tgroup\nA/p1\tx\nA/p2\ty\nB/p1\tx\nB/p2\ty\n")
    assert load_design(STUDY, tsv).column("group") == {"A/p1": "x", "A/p2": "y", "B/p1": "x", "B/p2": "y"}


def test_design_from_path_pattern():
    study = inputs(("A/p1", "A/p1"), ("p2", "B/p2.mcap"), ("p3", "B/p3_0.db3"))
    d = load_design(study, from_path="{condition}/{participant}")
    assert d.row("A/p1") == ("A", "p1") and d.row("p2") == ("B", "p2") and d.row("p3") == ("B", "p3_0")
    d = load_design(study, from_path="{condition}/{participant}_*", allow_missing=True)
    assert d.row("p3") == ("B", "p3") and d.missing == ("A/p1", "p2") and d.row("p2") == ("", "")
    # a pattern and a file together: columns of both
    d = load_design(study[:1], from_path="{condition}/{participant}")
    assert d.columns == ("condition", "participant")


DESIGN_ERRORS = {
    "no session column": ("participant,condition\np1,A\n", "no 'session' column"),
    "row matching no session": ("session,condition\nA/p1,A\nA/p2,A\nB/p1,B\nB/p2,B\nC/p9,C\n",
                                "match no session of the study: 'C/p9' (line 6)"),
    "session without a row": ("session,condition\nA/p1,A\nA/p2,A\nB/p1,B\n",
                               "sessions without a design (without a row in"),
    "duplicate key": ("session,condition\nA/p1,A\nA/p2,A\nB/p1,B\nA/p1,B\nB/p2,B\n",
                      "lines 2 and 5 both describe session 'A/p1'"),
    "duplicate column": ("session,condition,condition\nA/p1,A,A\n", "two columns named 'condition'"),
    "ragged row": ("session,condition\nA/p1,A,extra\n", "line 2 has 3 cells; the header has 2"),
    "empty session cell": ("session,condition\n,A\n", "line 2 has an empty session cell"),
    "reserved column": ("session,face_id\nA/p1,x\n", "would shadow the study tables' own 'face_id'"),
    "empty file": ("\n\n", "is empty"),
    "unnamed column": ("session,,condition\nA/p1,x,A\n", "column 2 of the header has no name"),
}


@pytest.mark.parametrize("case", sorted(DESIGN_ERRORS))
def test_design_file_errors_are_specific(tmp_path, case):
    text, message = DESIGN_ERRORS[case]
    with pytest.raises(AnalyzeError) as error:
        load_design(STUDY, write(tmp_path, "design.csv", text))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_session_without_a_row_is_listed_and_the_flag_allows_it(tmp_path):
    path = write(tmp_path, "design.csv", "session,condition\nA/p1,A\nB/p1,B\n")
    with pytest.raises(AnalyzeError) as error:
        load_design(STUDY, path)
    assert "A/p2, B/p2" in str(error.value) and "--allow-missing-design" in str(error.value)
    d = load_design(STUDY, path, allow_missing=True)
    assert d.missing == ("A/p2", "B/p2") and d.row("A/p2") == ("",) and "A/p2" not in d.column("condition")


def test_design_and_events_files_that_are_fifos_are_refused_unopened(tmp_path):
    import os
    fifo = tmp_path / "design.csv"
    os.mkfifo(fifo)   # open() would block until a writer appears
    with pytest.raises(AnalyzeError, match="named pipe"):
        load_design(STUDY, fifo)
    with pytest.raises(AnalyzeError, match="named pipe"):
        load_events(fifo, ["A/p1"])


def test_design_file_not_utf8_and_not_a_regular_file(tmp_path):
    bad = tmp_path / "d.csv"
    bad.write_bytes(b"session,condition\nA/p1,\xe9t\xe9\n")
    with pytest.raises(AnalyzeError, match="not UTF-8 text"):
        load_design(STUDY, bad)
    with pytest.raises(AnalyzeError, match="directory"):
        load_design(STUDY, tmp_path)


@pytest.mark.parametrize("pattern,message", [
    ("{a}/{b}/{c}/{condition}/{participant}", "matches none of the inputs' paths"),
    ("condition/participant", "has no {field}"),
    ("{cond ition}", "is not a field name"),
    ("{condition", "unbalanced braces"),
    ("{session}", "would shadow"),
])
def test_bad_path_patterns(pattern, message):
    with pytest.raises(AnalyzeError) as error:
        load_design(STUDY, from_path=pattern)
    assert message in str(error.value)


def test_pattern_missing_some_sessions_lists_them():
    study = inputs(("A/p1", "A/p1")) + [StudyInput(Path("/loose"), False, "loose")]   # one component only
    with pytest.raises(AnalyzeError, match=r"not matched by --design-from-path .*: loose"):
        load_design(study, from_path="{condition}/{participant}")


def test_file_and_pattern_must_not_give_the_same_column(tmp_path):
    path = write(tmp_path, "d.csv", "session,condition\nA/p1,A\nA/p2,A\nB/p1,B\nB/p2,B\n")
    with pytest.raises(AnalyzeError, match="also come from --design-from-path"):
        load_design(STUDY, path, from_path="{condition}/{participant}")


# ---------------------------------------------------------------- events


def test_events_file_parsing_and_errors(tmp_path):
    path = write(tmp_path, "e.csv", "session,label,start_s,end_s,clock\nA/p1,joke,1.5,,\n"
                                    "A/p1,joke,1700000012.000000001,1700000013,absolute\nB/p1:/t,x,2,3,relative\n")
    events = load_events(path, ["A/p1", "B/p1"])
    assert [(e.session, e.number, e.label, e.clock, e.start_ns, e.end_ns) for e in events] == [
        ("A/p1", 1, "joke", "relative", 1_500_000_000, None),
        ("A/p1", 2, "joke", "absolute", 1_700_000_012_000_000_001, 1_700_000_013_000_000_000),
        ("B/p1:/t", 1, "x", "relative", 2 * SEC, 3 * SEC)]
    assert events[0].window(10 * SEC, 5 * SEC) == (11_500_000_000, 16_500_000_000)
    assert events[1].window(10 * SEC, 5 * SEC) == (1_700_000_012_000_000_001, 1_700_000_013_000_000_000)
    for text, message in [("session,label\nA/p1,x\n", "no 'start_s' column"),
                          ("session,label,start_s\nZ,x,1\n", "not in the study: 'Z' (line 2)"),
                          ("session,label,start_s\nA/p1,x,soon\n", "is not a number"),
                          ("session,label,start_s\nA/p1,x,nan\n", "not a finite number"),
                          ("session,label,start_s,end_s\nA/p1,x,2,1\n", "is not after start_s"),
                          ("session,label,start_s,clock\nA/p1,x,2,wall\n", "expected relative or absolute"),
                          ("session,label,start_s\nA/p1,,2\n", "empty label")]:
        with pytest.raises(AnalyzeError) as error:
            load_events(write(tmp_path, "bad.csv", text), ["A/p1"])
        assert message in str(error.value)


def test_window_stats_by_hand():
    stamp = np.array([0, 1, 2, 6, 7]) * SEC
    valence = np.array([0.5, 0.25, -0.5, 0.0, 0.125], dtype=np.float32)
    state = np.array([1, 1, -1, 0, 0], dtype=np.int8)
    gap = 2 * SEC
    w = window_stats(stamp, valence, state, SEC // 2, 6 * SEC + SEC // 2, gap)
    # frames at 1, 2, 6 s; intervals: [0,1) POSITIVE 0.5 s inside, [1,2) POSITIVE 1 s,
    # [2,6) 4 s > face_timeout: not counted, [6,7) NEUTRAL 0.5 s inside
    assert w.frames == 3 and w.covered_s == pytest.approx(2.0)
    assert w.valence_mean == pytest.approx((0.25 - 0.5 + 0.0) / 3) and w.valence_min == -0.5 and w.valence_max == 0.25
    assert w.shares == pytest.approx((0.0, 0.25, 0.75))
    # a window inside the face-loss gap: no frames, no time
    w = window_stats(stamp, valence, state, 3 * SEC, 5 * SEC, gap)
    assert (w.frames, w.covered_s, w.valence_mean, w.shares) == (0, 0.0, None, None)
    # before the first frame and after the last: nothing; the same window without a gap limit: time only
    assert window_stats(stamp, valence, state, -5 * SEC, 0, gap).shares is None
    assert window_stats(stamp, valence, state, 8 * SEC, 9 * SEC, gap).frames == 0
    w = window_stats(stamp, valence, state, 3 * SEC, 5 * SEC, 10 * SEC)
    assert w.frames == 0 and w.covered_s == pytest.approx(2.0) and w.shares == (1.0, 0.0, 0.0)
    # one frame alone: shares by frame count, as summary.json does
    w = window_stats(stamp[:1], valence[:1], state[:1], 0, SEC, gap)
    assert w.frames == 1 and w.covered_s == 0.0 and w.shares == (0.0, 0.0, 1.0)


# ---------------------------------------------------------------- statistics


def test_describe_by_hand():
    d = describe([0.1, 0.2, 0.6])
    sd = math.sqrt(((0.1 - 0.3) ** 2 + (0.2 - 0.3) ** 2 + (0.6 - 0.3) ** 2) / 2)
    half = T975[2] * sd / math.sqrt(3)
    assert (d.n, d.mean, d.sd) == (3, pytest.approx(0.3), pytest.approx(sd))
    assert d.ci_low == pytest.approx(0.3 - half, abs=1e-12) and d.ci_high == pytest.approx(0.3 + half, abs=1e-12)
    assert describe([0.4]) == type(d)(1, 0.4, None, None, None)
    assert describe([]).mean is None
    n, mean, sd_, lo, hi = describe_columns([[0.1, np.nan, 1.0], [0.2, 0.5, np.nan], [0.6, np.nan, np.nan]])
    assert list(n) == [3, 1, 1] and mean[0] == pytest.approx(0.3) and mean[1] == 0.5 and mean[2] == 1.0
    assert lo[0] == pytest.approx(d.ci_low) and hi[0] == pytest.approx(d.ci_high) and np.isnan(sd_[1]) and np.isnan(lo[2])


def test_conditions_means_paired_differences_and_cis_by_hand():
    # participant -> (A, B) session means; p4 only in A (not paired); p3 twice in B (averaged)
    sessions = [("A1", "p1", "A", 0.5), ("A2", "p2", "A", 0.25), ("A3", "p3", "A", 0.0), ("A4", "p4", "A", 0.75),
                ("B1", "p1", "B", 0.25), ("B2", "p2", "B", 0.25), ("B3a", "p3", "B", -0.5), ("B3b", "p3", "B", -0.25)]
    design = Design(("participant", "condition"), {s: (p, c) for s, p, c, _ in sessions})
    means = [SessionMean(s, s, 100, v) for s, _, _, v in sessions]
    assert factors_of(design, ()) == ("condition",)
    rows = condition_rows(means, design, ("condition",))
    a = [0.5, 0.25, 0.0, 0.75]
    b = [0.25, 0.25, -0.5, -0.25]
    diffs = [0.5 - 0.25, 0.25 - 0.25, 0.0 - (-0.375)]   # p1, p2, p3 (p3's B: mean of two sessions)

    def expect(values):
        m = sum(values) / len(values)
        sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
        half = T975[len(values) - 1] * sd / math.sqrt(len(values))
        return [len(values), m, sd, m - half, m + half]

    assert [r[:6] for r in rows] == [["condition", "session_means", "A", "", 4, 4],
                                     ["condition", "session_means", "B", "", 4, 3],
                                     ["condition", "paired_difference", "A", "B", 7, 3]]
    for row, values in zip(rows, (a, b, diffs)):
        assert row[6] == values.__len__() and row[6:] == pytest.approx(expect(values), abs=1e-12)
    with pytest.raises(AnalyzeError, match="--by order: not a design column"):
        factors_of(design, ("order",))


def test_conditions_without_participant_column_have_no_pairs():
    design = Design(("condition",), {"s1": ("A",), "s2": ("A",), "s3": ("B",)})
    rows = condition_rows([SessionMean("s1", "s1", 1, 0.1), SessionMean("s2", "s2", 1, 0.3),
                           SessionMean("s3", "s3", 1, -0.2)], design, ("condition",))
    assert [r[1:7] for r in rows] == [["session_means", "A", "", 2, None, 2], ["session_means", "B", "", 1, None, 1]]
    assert rows[1][7:] == [-0.2, None, None, None]


# ---------------------------------------------------------------- time course


def test_bin_means_on_jittered_stamps_with_a_gap():
    rng = np.random.default_rng(3)
    period = SEC // 30
    k = np.arange(300)                                   # 10 s at 30 Hz
    stamp = 5 * SEC + k * period + rng.integers(-2_000_000, 2_000_001, size=len(k))
    keep = (k < 90) | (k >= 195)                          # face lost from 3 s to 6.5 s
    stamp = stamp[keep]
    valence = np.where(k[keep] < 150, 0.5, -0.25)         # before / after the gap
    grid = bin_means(stamp, valence, 5 * SEC, SEC, 11)
    assert list(grid[:3]) == [0.5, 0.5, 0.5]
    assert np.isnan(grid[3:6]).all()                      # the gap stays a gap: no interpolation
    assert grid[6] == -0.25 and list(grid[7:10]) == [-0.25] * 3 and np.isnan(grid[10])
    # the bin around the gap's end holds only the frames after it; jitter moves frames, not values
    sums_check = bin_means(stamp, np.ones(len(stamp)), 5 * SEC, SEC, 11)
    assert np.nansum(sums_check) == 7


def test_an_events_file_over_the_limit_is_refused(tmp_path, monkeypatch):
    import valence_ros.offline.events as events
    monkeypatch.setattr(events, "MAX_EVENTS", 3)
    path = write(tmp_path, "e.csv", "session,label,start_s\n" + "A/p1,x,1\n" * 4)
    with pytest.raises(AnalyzeError, match="has 4 events; the limit is 3"):
        load_events(path, ["A/p1"])
    assert len(load_events(write(tmp_path, "ok.csv", "session,label,start_s\n" + "A/p1,x,1\n" * 3), ["A/p1"])) == 3


# ---------------------------------------------------------------- against naive oracles

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def naive_window(stamps, valence, state, start, end, gap):
    """One frame and one interval at a time, as docs/studies.md states the rule."""
    inside = [v for t, v in zip(stamps, valence) if start <= t < end]
    per_state = {-1: 0, 0: 0, 1: 0}
    for i in range(len(stamps) - 1):
        a, b, s = stamps[i], stamps[i + 1], state[i]
        if 0 < b - a <= gap and s in per_state:
            per_state[s] += max(0, min(b, end) - max(a, start))
    covered = sum(per_state.values())
    if covered:
        shares = tuple(per_state[s] / covered for s in (-1, 0, 1))
    elif inside:
        states = [s for t, s in zip(stamps, state) if start <= t < end]
        shares = tuple(states.count(s) / len(inside) for s in (-1, 0, 1))
    else:
        shares = None
    return len(inside), covered, (sum(inside) / len(inside) if inside else None), shares


# stamps and face_timeout on a 50 ns lattice: intervals equal to the timeout (the boundary) are common
frames_st = st.lists(st.tuples(st.integers(0, 60).map(lambda k: 50 * k), st.sampled_from([-1, 0, 1, 2]),
                               st.floats(-1, 1, allow_nan=False, width=32)), min_size=0, max_size=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(frames_st, st.integers(-500, 3_500), st.integers(1, 2_000), st.integers(1, 16).map(lambda k: 50 * k))
def test_window_stats_equals_the_naive_rule(frames, start, length, gap):
    frames = sorted(frames, key=lambda f: f[0])
    stamps = np.array([f[0] for f in frames], dtype=np.int64)
    state = np.array([f[1] for f in frames], dtype=np.int8)
    valence = np.array([f[2] for f in frames], dtype=np.float32)
    w = window_stats(stamps, valence, state, start, start + length, gap)
    n, covered, mean, shares = naive_window(stamps.tolist(), valence.astype(np.float64).tolist(),
                                            state.tolist(), start, start + length, gap)
    assert w.frames == n and w.covered_s == pytest.approx(covered * 1e-9)
    assert (w.valence_mean is None) == (mean is None)
    if mean is not None:
        assert w.valence_mean == pytest.approx(mean, abs=1e-12)
    assert (w.shares is None) == (shares is None)
    if shares is not None:
        assert w.shares == pytest.approx(shares, abs=1e-12)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(-100, 5_000), st.floats(-1, 1, allow_nan=False)), max_size=60),
       st.integers(-50, 200), st.integers(1, 700), st.integers(1, 12))
def test_bin_means_equals_the_naive_rule(frames, start, step, bins):
    stamps = np.array([f[0] for f in frames], dtype=np.int64)
    values = np.array([f[1] for f in frames], dtype=np.float64)
    got = bin_means(stamps, values, start, step, bins)
    for k in range(bins):
        members = [v for t, v in frames if start + k * step <= t < start + (k + 1) * step]
        if members:
            assert got[k] == pytest.approx(sum(members) / len(members), abs=1e-12)
        else:
            assert np.isnan(got[k])


def test_study_options_are_checked_when_built():
    from valence_ros.offline import StudyOptions
    assert StudyOptions(by="condition", design="d.csv").by == ("condition",)
    assert StudyOptions(topic=["/a", "/b"]).topic == ("/a", "/b")
    for kwargs, message in [({"window_s": 0.0}, "--window-s 0.0: expected 0.001 to 86400 seconds"),
                            ({"grid_s": float("nan")}, "--grid-s nan"),
                            ({"baseline_s": -1.0}, "--baseline-s -1.0"),
                            ({"jobs": 0}, "--jobs must be at least 1"),
                            ({"node": "valence_node"}, "fully qualified name"),
                            ({"storage": "zip"}, "expected sqlite3 or mcap"),
                            ({"by": ("condition",)}, "--by needs a design"),
                            ({"allow_missing_design": True}, "--allow-missing-design needs a design")]:
        with pytest.raises(AnalyzeError) as error:
            StudyOptions(**kwargs)
        assert message in str(error.value)


def test_design_values_from_non_utf8_paths_are_text():
    import os
    path = Path(os.fsdecode(b"/data/A/Jos\xe9"))   # a file name's bytes that are not UTF-8
    d = load_design([StudyInput(path, False, "Jos\\xe9")], from_path="{condition}/{participant}")
    assert d.row("Jos\\xe9") == ("A", "Jos\\xe9")
    d.row("Jos\\xe9")[1].encode("utf-8")   # writable to every table (no lone surrogate)
