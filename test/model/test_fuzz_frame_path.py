"""Fuzz the node's per-frame path with hypothesis (issue 11): labels -> preprocessing ->
model -> clip -> face tracker, as ros/node.py runs it, over hostile frames (any float32,
any length, label lists of aliases, unknown names, unicode, duplicates, presets; any face
id, any stamp and clock). Invariants: nothing raises; every frame is either processed or
rejected with one of the node's reasons; outputs are finite and in [-1, 1]; states are
-1/0/1; counts add up; the tracker stays within max_faces.

Derandomised (same cases every run). Case counts: FRAME_CASES single frames and
STREAM_CASES streams per CI run; VALENCE_SOAK=1 (make soak) runs five times as many.
"""
from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.fuzz_frames import FUZZ, FramePath, check_output, frames
from valence_ros.model.fast_inference import FastRegressor

SOAK = os.environ.get("VALENCE_SOAK") == "1"
FRAME_CASES = 50_000 if SOAK else 10_000
STREAM_CASES = 2_500 if SOAK else 500


def test_fuzz_single_frames():
    path = FramePath(FastRegressor.load())
    ran = [0]

    @settings(max_examples=FRAME_CASES, **FUZZ)
    @given(frames())
    def one_frame(frame):
        ran[0] += 1
        check_output(path(*frame))

    one_frame()
    path.check_counts()
    assert ran[0] >= FRAME_CASES
    # the fuzzer reached both outcomes and most reasons (a generator that only
    # produced rejects would prove nothing)
    assert path.published > FRAME_CASES // 20, path.rejected
    reached = {reason for reason, count in path.rejected.items() if count}
    assert reached >= {"bad_labels", "wrong_length", "non_finite", "negative", "bad_sum"}, path.rejected


def test_fuzz_frame_streams_with_hostile_models():
    """Streams of frames through one tracker, with the shipped model or one with
    huge weights (outputs overflow to inf/NaN: must be rejected, never published)."""
    shipped = FastRegressor.load()
    ran = [0]

    @settings(max_examples=STREAM_CASES, **FUZZ)
    @given(st.lists(frames(), max_size=30), st.sampled_from([None, 1e30, 3e38, -3e38]),
           st.floats(0.0, 1000.0))
    def stream(items, scale, sum_tolerance):
        ran[0] += 1
        model = shipped if scale is None else _scaled(shipped, scale)
        path = FramePath(model, sum_tolerance)
        with np.errstate(over="ignore", invalid="ignore"):   # the huge models overflow on purpose
            for frame in items:
                check_output(path(*frame))
        path.check_counts()

    stream()
    assert ran[0] >= STREAM_CASES


def _scaled(model: FastRegressor, scale: float) -> FastRegressor:
    weights = [(wt.T.astype(np.float64) * scale).clip(-3.4e38, 3.4e38).astype(np.float32)
               for wt in model._WT]
    return FastRegressor(weights, list(model._b), source=f"scaled x{scale}")
