"""The batch pipeline gives the node's per-frame results (node.py `_process`), frame by frame."""
from __future__ import annotations

import math

import numpy as np
import pytest

from valence_ros.core.face_tracker import FaceTracker
from valence_ros.model.fast_inference import FastRegressor
from valence_ros.core.labels import LabelError, LabelMapCache
from valence_ros.offline.pipeline import REASONS, FrameBatch, OfflinePipeline
from valence_ros.core.parameters import input_labels_of, tracker_config, validate_parameters
from valence_ros.core.preprocessing import to_canonical

MODEL = FastRegressor.load(None)

LABEL_LISTS = [
    (),                                                        # -> input_labels
    ("neutral", "happy", "sad", "angry", "surprised", "scared", "disgusted"),
    ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),          # fer2013 order
    ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"),
    ("Happy", "Sad"),                                          # missing emotions
    ("happy", "joy"),                                          # bad: both mean happy
    ("contempt",),                                             # bad: nothing known
    ("fer2013",),                                              # a preset name as the only label
]


def reference(frames, params, model=MODEL, sum_tolerance=None):
    """The node's per-frame path, verbatim in spirit: labels -> to_canonical -> predict_one
    -> finite check -> clip -> FaceTracker.update (node.py _on_probabilities/_process)."""
    labels = LabelMapCache(input_labels_of(params))
    tracker = FaceTracker(tracker_config(params))
    tolerance = params["sum_tolerance"] if sum_tolerance is None else sum_tolerance
    out, rejected = [], dict.fromkeys(REASONS, 0)
    for face_id, stamp_ns, now_ns, label_list, values in frames:
        try:
            label_map = labels.get(list(label_list))
        except LabelError:
            rejected["bad_labels"] += 1
            continue
        vector, reason = to_canonical(np.asarray(values, dtype=np.float32), label_map, tolerance)
        if reason is not None:
            rejected[reason] += 1
            continue
        y = model.predict_one(vector)
        if not math.isfinite(y):
            rejected["non_finite_output"] += 1
            continue
        raw = 1.0 if y > 1.0 else (-1.0 if y < -1.0 else y)
        f = tracker.update(face_id, stamp_ns, raw, now_ns)
        out.append((face_id, stamp_ns, f.valence, raw, f.state, f.state_changed))
    return out, rejected, tracker


def to_batches(frames, batch_size):
    """FrameBatch objects (as the decoder produces them) for a list of frames."""
    strings, string_ids = [""], {"": 0}
    label_tuples, label_ids = [()], {(): 0}

    def sid(s):
        if s not in string_ids:
            string_ids[s] = len(strings)
            strings.append(s)
        return string_ids[s]

    def lid(t):
        if t not in label_ids:
            label_ids[t] = len(label_tuples)
            label_tuples.append(t)
        return label_ids[t]

    for start in range(0, len(frames), batch_size):
        part = frames[start:start + batch_size]
        n = len(part)
        stamps = np.array([f[1] for f in part], dtype=np.int64)
        by_len: dict[int, list[int]] = {}
        for i, f in enumerate(part):
            by_len.setdefault(len(f[4]), []).append(i)
        blocks = [(np.array(idx), np.array([part[i][4] for i in idx], dtype=np.float32).reshape(len(idx), m))
                  for m, idx in by_len.items()]
        yield FrameBatch(
            sec=stamps // 10**9, nanosec=stamps % 10**9,
            now_ns=np.array([f[2] for f in part], dtype=np.int64),
            face=np.array([sid(f[0]) for f in part], dtype=np.int32),
            frame=np.zeros(n, dtype=np.int32),
            labels=np.array([lid(tuple(f[3])) for f in part], dtype=np.int32),
            blocks=blocks, strings=strings, label_tuples=label_tuples)


def run_batches(frames, params, batch_size, model=MODEL, sum_tolerance=None):
    pipeline = OfflinePipeline(params, model, sum_tolerance)
    out = []
    for batch in to_batches(frames, batch_size):
        o = pipeline.run(batch)
        out += [(batch.strings[o.face[i]], int(o.stamp_ns[i]), float(o.valence[i]), float(o.raw_valence[i]),
                 int(o.state[i]), bool(o.changed[i])) for i in range(len(o))]
    return out, pipeline


def random_frames(n, seed, faces=("a", "b", "c"), bad_rate=0.05):
    """Frames with drifting moods (states change), label lists, out-of-order stamps,
    gaps beyond face_timeout and every kind of bad input."""
    rng = np.random.default_rng(seed)
    frames = []
    t = 1_700_000_000 * 10**9
    mood = {f: 0.0 for f in faces}
    for _i in range(n):
        face = faces[int(rng.integers(len(faces)))]
        t += int(rng.integers(5_000_000, 40_000_000))
        if rng.random() < 0.003:
            t += 3 * 10**9                                  # a gap: faces time out
        stamp = t - (int(rng.integers(1, 10**8)) if rng.random() < 0.04 else 0)   # out of order
        mood[face] = float(np.clip(mood[face] + rng.normal(0, 0.15), -1, 1))
        p = rng.dirichlet(np.ones(7) * 0.4)
        p[1] += max(mood[face], 0) * 3
        p[2] += max(-mood[face], 0) * 3
        p = (p / p.sum()).astype(np.float32)
        label_list = LABEL_LISTS[int(rng.integers(len(LABEL_LISTS)))] if rng.random() < 0.3 else ()
        if label_list in ((), LABEL_LISTS[1], LABEL_LISTS[2], ("fer2013",)):
            values = p                                      # 7 values
        else:
            values = rng.dirichlet(np.ones(len(label_list))).astype(np.float32)
        r = rng.random()
        if r < bad_rate:
            kind = int(rng.integers(6))
            values = [np.append(values, 0.1), np.where(np.arange(len(values)) == 0, np.nan, values),
                      values - 0.5, values * 0, values * 1.5, values[:-1]][kind].astype(np.float32)
        elif r < 2 * bad_rate:
            values = (values * np.float32(1.04)).astype(np.float32)   # within sum_tolerance
        frames.append((face, stamp, t + int(rng.integers(0, 3_000_000)), label_list, values))
    return frames


def assert_equal_outputs(got, want, tol=1e-6):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[0] == w[0] and g[1] == w[1] and g[4] == w[4] and g[5] == w[5], (g, w)
        assert abs(g[2] - w[2]) <= tol and abs(g[3] - w[3]) <= tol, (g, w)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("batch_size", [1, 97, 100_000])
def test_batch_equals_per_frame(seed, batch_size):
    params = validate_parameters({"max_faces": 2, "smoothing_time_constant": 0.3, "hysteresis": 0.05,
                                  "input_labels": ["fer2013"]})
    frames = random_frames(3000, seed)
    want, want_rejected, tracker = reference(frames, params)
    got, pipeline = run_batches(frames, params, batch_size)
    assert_equal_outputs(got, want)
    assert pipeline.rejected == want_rejected
    # the scenario really covers what it claims
    assert sum(r for k, r in want_rejected.items() if k != "undecodable") > 100
    assert {k for k, v in want_rejected.items() if v} >= {
        "bad_labels", "wrong_length", "non_finite", "negative", "zero_sum", "bad_sum"}
    assert sum(1 for w in want if w[5]) > 30                           # states change
    assert tracker.out_of_order > 10 and tracker.evicted > 10 and tracker.expired > 0
    assert (pipeline.tracker.out_of_order, pipeline.tracker.evicted, pipeline.tracker.expired) == (
        tracker.out_of_order, tracker.evicted, tracker.expired)
    assert pipeline.frames_in == len(frames) and pipeline.frames_out == len(want)


def test_defaults_and_no_smoothing():
    frames = random_frames(2000, 5, faces=("",), bad_rate=0.0)
    for params in (validate_parameters({}), validate_parameters({"smoothing_time_constant": 0.0})):
        want, _, _ = reference(frames, params)
        got, _ = run_batches(frames, params, 256)
        assert_equal_outputs(got, want)


def test_unlimited_sum_tolerance_normalises_intensities():
    """CSV path: FaceReader intensities (not summing to 1) are accepted and normalised."""
    rng = np.random.default_rng(3)
    frames = [("", i * 10**8, i * 10**8, ("Neutral", "Happy", "Sad", "Angry", "Surprised", "Scared", "Disgusted"),
               rng.random(7).astype(np.float32)) for i in range(500)]
    frames.append(("", 10**12, 10**12, frames[0][3], np.zeros(7, np.float32)))
    params = validate_parameters({})
    want, rejected, _ = reference(frames, params, sum_tolerance=float("inf"))
    got, pipeline = run_batches(frames, params, 128, sum_tolerance=float("inf"))
    assert len(got) == 500 and rejected["zero_sum"] == 1 and pipeline.rejected["zero_sum"] == 1
    assert_equal_outputs(got, want)
    strict, _ = run_batches(frames, params, 128)
    assert len(strict) < 50          # with the node's default tolerance most would be rejected


class _NanModel:
    """predict_batch/predict_one returning NaN for frames whose 'happy' is exactly 0.5."""

    def predict_batch(self, X):
        y = MODEL.predict_batch(X)
        y[X[:, 1] == np.float32(0.5)] = np.nan
        return y

    def predict_one(self, x):
        return math.nan if x[1] == np.float32(0.5) else MODEL.predict_one(x)


def test_non_finite_model_output_is_rejected_like_the_node():
    frames = [("f", i * 10**8, i * 10**8, (), np.array([0.5, 0.5 if i % 3 == 0 else 0.2, 0, 0, 0, 0,
                                                         0 if i % 3 == 0 else 0.3], np.float32))
              for i in range(60)]
    params = validate_parameters({})
    want, rejected, _ = reference(frames, params, model=_NanModel())
    got, pipeline = run_batches(frames, params, 16, model=_NanModel())
    assert rejected["non_finite_output"] == 20 == pipeline.rejected["non_finite_output"]
    assert_equal_outputs(got, want)


def test_undecodable_rows_are_counted_not_output():
    frames = [("f", i * 10**8, i * 10**8, (), np.full(7, 1 / 7, np.float32)) for i in range(10)]
    batch = next(to_batches(frames, 10))
    batch.blocks = [(idx[idx % 2 == 0], values[idx % 2 == 0]) for idx, values in batch.blocks]
    pipeline = OfflinePipeline(validate_parameters({}), MODEL)
    out = pipeline.run(batch)
    assert pipeline.rejected["undecodable"] == 5 and len(out) + 5 == 10
    assert (out.rows % 2 == 0).all()


def test_label_problems_are_reported():
    frames = [("", 10**9 * i, 10**9 * i, labels, np.full(len(labels) or 7, 1 / (len(labels) or 7), np.float32))
              for i, labels in enumerate([("happy", "joy"), ("Happy", "Sad"), ("neutral", "happiness", "surprise",
                                         "sadness", "anger", "disgust", "fear", "contempt"), ()])]
    _, pipeline = run_batches(frames, validate_parameters({}), 10)
    notes = pipeline.label_lists
    assert "both mean" in notes[("happy", "joy")]
    assert "missing emotions" in notes[("Happy", "Sad")]
    assert "contempt" in notes[frames[2][3]]
    assert notes[()] is None
