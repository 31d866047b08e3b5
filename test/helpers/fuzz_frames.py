"""Hostile frames for the hypothesis fuzz tests (issue 11) and the node's per-frame
path as a plain function (FramePath), shared by test/model/test_fuzz_frame_path.py and
test/offline/test_fuzz_batch_path.py."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck
from hypothesis import strategies as st

from valence_ros.core.emotions import EMOTIONS
from valence_ros.core.face_tracker import FaceTracker, TrackerConfig
from valence_ros.core.labels import ALIASES, LABEL_PRESETS, LabelError, LabelMapCache
from valence_ros.core.preprocessing import REJECT_REASONS, to_canonical
from valence_ros.core.valence_state import StateThresholds
from valence_ros.model.fast_inference import FastRegressor

NODE_REASONS = REJECT_REASONS + ("non_finite_output",)
MAX_FACES = 4

FUZZ = dict(derandomize=True, database=None, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Label vocabulary: canonical names, aliases, presets, case/space variants, unknown
# names, unicode, control characters, a very long name, the empty string.
VOCABULARY = sorted(set(EMOTIONS) | set(ALIASES) | set(LABEL_PRESETS)) + [
    "contempt", "Neutral", "HAPPY", " sad ", "", "joy", "😀", "ümlaut", "a" * 300, "\x00", "\n", "ANGER",
    "neutral\u200b", "fear ", "Surprise", "disgusted", "happy"]
def _label_pool(size: int = 600) -> list[list[str]]:
    """Label lists the fuzzer picks from: canonical order (empty), permutations with and
    without an extra unknown label, and random lists of 1-10 vocabulary entries
    (duplicates, unknowns, presets, unicode). Built once from a fixed seed: drawing an
    index is far cheaper for hypothesis than drawing lists of strings."""
    rng = np.random.default_rng(11)
    pool: list[list[str]] = [[]]
    for _ in range(size // 6):
        pool.append([EMOTIONS[i] for i in rng.permutation(7)])
        pool.append([*(EMOTIONS[i] for i in rng.permutation(7)), "contempt"])
    while len(pool) < size:
        pool.append([VOCABULARY[i] for i in rng.integers(0, len(VOCABULARY), rng.integers(1, 11))])
    return pool


LABEL_POOL = _label_pool()
label_lists = st.integers(0, len(LABEL_POOL) - 1).map(lambda i: LABEL_POOL[i])

VALUE_KINDS = ("plausible", "unnormalised", "nan", "inf", "negative", "zeros", "huge", "subnormal",
               "random_bits", "one_hot")


def make_values(kind: str, n: int, seed: int) -> np.ndarray:
    """n float32 values of one hostile kind, built from `seed` (fast: hypothesis
    draws only small integers; numpy spreads them over float32)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(max(n, 1), 0.5))[:n].astype(np.float32)
    if kind == "unnormalised":
        p *= np.float32(rng.uniform(0, 3))
    elif kind in ("nan", "inf", "negative") and n:
        p[rng.integers(n)] = {"nan": np.nan, "inf": np.inf * rng.choice([-1, 1]), "negative": -rng.uniform()}[kind]
    elif kind == "zeros":
        p[:] = 0
    elif kind == "huge":
        p *= np.float32(3e38)
    elif kind == "subnormal":
        p *= np.float32(1e-42)
    elif kind == "random_bits":
        p = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    elif kind == "one_hot" and n:
        p[:] = 0
        p[rng.integers(n)] = 1
    return p


FACE_STAMP_NOW = st.tuples(st.sampled_from(["", "alice", "bob", "carol", "dave", "eve", "ü"]),
                           st.integers(0, 2**31 * 10**9 - 1),       # header stamp, ns
                           st.integers(0, 2**62))                   # node clock, ns


@st.composite
def frames(draw):
    labels = draw(label_lists)
    n = len(labels) if labels else 7
    if draw(st.integers(0, 9)) == 0:
        n = draw(st.integers(0, 12))                                  # wrong length
    values = make_values(draw(st.sampled_from(VALUE_KINDS)), n, draw(st.integers(0, 2**32 - 1)))
    face, stamp, now = draw(FACE_STAMP_NOW)
    return labels, values, face, stamp, now


class FramePath:
    """The node's per-frame steps, with its counters (ros/node.py _on_frame)."""

    def __init__(self, model: FastRegressor, sum_tolerance: float = 0.05):
        self.cache = LabelMapCache(["facereader"])
        self.model = model
        self.sum_tolerance = sum_tolerance
        self.tracker = FaceTracker(TrackerConfig(0.5, StateThresholds(0.3, -0.3, 0.1), 2.0, MAX_FACES))
        self.rejected = dict.fromkeys(NODE_REASONS, 0)
        self.published = 0
        self.received = 0

    def __call__(self, labels, values, face_id, stamp_ns, now_ns):
        self.received += 1
        try:
            label_map = self.cache.get(labels)
        except LabelError:
            self.rejected["bad_labels"] += 1
            return None
        vec, reason = to_canonical(values, label_map, self.sum_tolerance)
        if reason is not None:
            assert reason in REJECT_REASONS and vec is None
            self.rejected[reason] += 1
            return None
        assert vec.dtype == np.float32 and vec.shape == (7,) and np.isfinite(vec).all()
        assert (vec >= 0).all() and abs(float(vec.sum(dtype=np.float64)) - 1.0) < 1e-5
        raw = self.model.predict_one(vec)
        if not math.isfinite(raw):
            self.rejected["non_finite_output"] += 1
            return None
        raw = min(1.0, max(-1.0, raw))
        tracked = self.tracker.update(face_id, stamp_ns, raw, now_ns)
        self.published += 1
        return raw, tracked

    def check_counts(self):
        assert self.published + sum(self.rejected.values()) == self.received
        assert len(self.tracker) <= MAX_FACES


def check_output(result):
    if result is None:
        return
    raw, tracked = result
    assert -1.0 <= raw <= 1.0
    assert math.isfinite(tracked.valence) and -1.0 <= tracked.valence <= 1.0
    assert tracked.state in (-1, 0, 1)


