"""Validate one frame's probabilities and bring them into canonical order.

A frame is rejected, with a reason from REJECT_REASONS, when it cannot be
trusted: wrong length for its labels, NaN/inf, a negative value, an all-zero
vector, a sum further than `sum_tolerance` from 1, or no probability mass on
any emotion the model knows. Otherwise values for unknown labels are dropped
and the rest renormalised to sum to 1 (this also absorbs rounding in the
producer). The per-frame and batch paths apply the same float32 operations in
the same order, so the live node and the offline tool agree to the bit.
"""
from __future__ import annotations

import math

import numpy as np

from valence_ros.emotions import NUM_EMOTIONS
from valence_ros.labels import LabelMap

REJECT_REASONS = (
    "bad_labels",        # the message's label list cannot be mapped
    "wrong_length",      # len(probabilities) != len(labels)
    "non_finite",        # NaN or inf
    "negative",          # a probability below 0
    "zero_sum",          # all probabilities are 0
    "bad_sum",           # sum further than sum_tolerance from 1
    "no_known_emotion",  # all mass on labels the model does not know
)

# Batch reason codes: 0 = accepted, i + 1 = REJECT_REASONS[i].
ACCEPTED = 0
REASON_CODE = {reason: code for code, reason in enumerate(REJECT_REASONS, start=1)}


def to_canonical(values: np.ndarray, label_map: LabelMap, sum_tolerance: float
                 ) -> tuple[np.ndarray | None, str | None]:
    """(canonical float32[7] summing to 1, None) or (None, reject reason).

    `values` is a 1-D float32 array (e.g. np.frombuffer of the message field).
    """
    if values.shape[0] != label_map.input_length:
        return None, "wrong_length"
    total = float(values.sum(dtype=np.float64))
    if not math.isfinite(total):  # any NaN or inf makes the sum non-finite
        return None, "non_finite"
    if values.min() < 0.0:
        return None, "negative"
    if total == 0.0:
        return None, "zero_sum"
    if abs(total - 1.0) > sum_tolerance:
        return None, "bad_sum"
    if label_map.is_identity:
        out = np.array(values, dtype=np.float32)
    else:
        out = np.zeros(NUM_EMOTIONS, dtype=np.float32)
        out[label_map.target] = values[label_map.source]
    kept = out.sum(dtype=np.float64)
    if kept <= 0.0:
        return None, "no_known_emotion"
    out /= np.float32(kept)
    return out, None


def to_canonical_batch(values: np.ndarray, label_map: LabelMap, sum_tolerance: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised to_canonical over rows of an (N, len(labels)) array.

    Returns (float32 (N, 7), int8 (N,) reason codes). Rejected rows are zeros.
    """
    values = np.asarray(values, dtype=np.float32)
    n = values.shape[0]
    codes = np.zeros(n, dtype=np.int8)
    if values.ndim != 2 or values.shape[1] != label_map.input_length:
        codes[:] = REASON_CODE["wrong_length"]
        return np.zeros((n, NUM_EMOTIONS), dtype=np.float32), codes
    with np.errstate(invalid="ignore", over="ignore"):
        total = values.sum(axis=1, dtype=np.float64)
        finite = np.isfinite(total)
        negative = finite & (values.min(axis=1, initial=0.0) < 0.0)
    ok = finite & ~negative
    zero = ok & (total == 0.0)
    ok &= ~zero
    bad_sum = ok & (np.abs(total - 1.0) > sum_tolerance)
    ok &= ~bad_sum
    # Order matters: a row gets the first reason to_canonical would give.
    codes[bad_sum] = REASON_CODE["bad_sum"]
    codes[zero] = REASON_CODE["zero_sum"]
    codes[negative] = REASON_CODE["negative"]
    codes[~finite] = REASON_CODE["non_finite"]

    out = np.zeros((n, NUM_EMOTIONS), dtype=np.float32)
    out[:, label_map.target] = values[:, label_map.source]
    out[~ok] = 0.0
    kept = out.sum(axis=1, dtype=np.float64)
    no_known = ok & (kept <= 0.0)
    codes[no_known] = REASON_CODE["no_known_emotion"]
    ok &= ~no_known
    kept32 = np.where(ok, kept, 1.0).astype(np.float32)
    out /= kept32[:, None]
    return out, codes
