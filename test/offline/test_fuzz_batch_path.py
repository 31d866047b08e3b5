"""Fuzz valence_analyze's batch path with hypothesis (issue 11): OfflinePipeline.run over
batches of hostile frames (label lists, lengths, NaN/inf/negative/huge/random-bit floats,
undecodable rows, faces, stamps, clocks), several batches through one pipeline.

Invariants: nothing raises; every row is published or counted under exactly one reason;
published values are finite and in [-1, 1], states -1/0/1; and the batch path gives
the per-frame (node) path's result for every row: the same accept/reject decision and
the same reason, the same raw valence within 1e-6 (predict_batch vs predict_one).

Derandomised. BATCH_CASES examples per CI run (each a list of batches); VALENCE_SOAK=1 (make soak): x5.
"""
from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.fuzz_frames import FACE_STAMP_NOW, FUZZ, VALUE_KINDS, FramePath, label_lists, make_values
from valence_ros.core.parameters import validate_parameters
from valence_ros.model.fast_inference import FastRegressor
from valence_ros.offline.pipeline import REASONS, FrameBatch, OfflinePipeline

SOAK = os.environ.get("VALENCE_SOAK") == "1"
BATCH_CASES = 2_500 if SOAK else 500

rows = st.tuples(label_lists, st.sampled_from(VALUE_KINDS), st.integers(0, 12), st.integers(0, 2**32 - 1),
                 FACE_STAMP_NOW, st.booleans())
batches = st.lists(st.lists(rows, min_size=1, max_size=40), min_size=1, max_size=3)


def _frame_batch(items, strings: list[str], label_tuples: list[tuple]):
    """A FrameBatch as the bag decoder builds it: rows grouped into blocks by length,
    a row with undecodable=True in no block."""
    n = len(items)
    sec = np.zeros(n, dtype=np.int64)
    nanosec = np.zeros(n, dtype=np.int64)
    now = np.zeros(n, dtype=np.int64)
    face = np.zeros(n, dtype=np.int32)
    labels = np.zeros(n, dtype=np.int32)
    by_length: dict[int, list] = {}
    frames = []
    for i, (label_list, kind, wrong, seed, (face_id, stamp, clock), undecodable) in enumerate(items):
        width = len(label_list) if label_list else 7
        if wrong > 10:
            width = wrong - 10          # now and then a length that does not fit the labels
        values = make_values(kind, width, seed)
        key = tuple(label_list)
        if key not in label_tuples:
            label_tuples.append(key)
        if face_id not in strings:
            strings.append(face_id)
        sec[i], nanosec[i], now[i] = stamp // 10**9, stamp % 10**9, clock
        face[i], labels[i] = strings.index(face_id), label_tuples.index(key)
        if not undecodable:
            by_length.setdefault(width, []).append((i, values))
        frames.append((list(label_list), values, face_id, stamp, clock, undecodable))
    blocks = [(np.array([i for i, _ in group], dtype=np.int64),
               np.array([v for _, v in group], dtype=np.float32).reshape(len(group), width))
              for width, group in by_length.items()]
    batch = FrameBatch(sec=sec, nanosec=nanosec, now_ns=now, face=face,
                       frame=np.zeros(n, dtype=np.int32), labels=labels, blocks=blocks,
                       strings=strings, label_tuples=label_tuples)
    return batch, frames


def test_fuzz_offline_batches_match_the_frame_path():
    model = FastRegressor.load()
    params = validate_parameters({"max_faces": 4})
    ran = [0]
    totals = {"rows": 0, "published": 0}

    @settings(max_examples=BATCH_CASES, **FUZZ)
    @given(batches)
    def run(parts):
        ran[0] += 1
        pipeline = OfflinePipeline(params, model)
        node = FramePath(model)                  # the per-frame twin, fed the same rows
        strings: list[str] = [""]
        label_tuples: list[tuple] = [()]
        rows_in = undecodable = 0
        for items in parts:
            batch, frames = _frame_batch(items, strings, label_tuples)
            out = pipeline.run(batch)
            rows_in += len(batch)
            assert np.isfinite(out.valence).all() and np.isfinite(out.raw_valence).all()
            assert (np.abs(out.valence) <= 1).all() and (np.abs(out.raw_valence) <= 1).all()
            assert set(np.unique(out.state).tolist()) <= {-1, 0, 1}
            published = dict(zip(out.rows.tolist(), out.raw_valence.tolist()))
            for i, (labels, values, face_id, stamp, clock, bad_bytes) in enumerate(frames):
                if bad_bytes:
                    undecodable += 1
                    assert i not in published
                    continue
                single = node(labels, values, face_id, stamp, clock)
                assert (single is not None) == (i in published), (labels, values)
                if single is not None:
                    assert abs(single[0] - published[i]) <= 1e-6
        assert pipeline.frames_in == rows_in
        assert pipeline.frames_out + sum(pipeline.rejected.values()) == rows_in
        assert set(pipeline.rejected) <= set(REASONS)
        assert pipeline.rejected["undecodable"] == undecodable
        for reason, count in node.rejected.items():    # the same reasons, counted alike
            assert pipeline.rejected[reason] == count, (reason, pipeline.rejected, node.rejected)
        assert len(pipeline.tracker) <= 4
        totals["rows"] += rows_in
        totals["published"] += pipeline.frames_out

    run()
    assert ran[0] >= BATCH_CASES
    assert totals["published"] > totals["rows"] // 20, totals
