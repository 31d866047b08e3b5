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
from array import array
from functools import reduce
from operator import add
from typing import Sequence

import numpy as np

from valence_ros.core.emotions import NUM_EMOTIONS
from valence_ros.core.labels import LabelMap

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


# Per-frame path: 7-8 floats are checked and reordered with builtins on a Python
# list (no numpy call until the result is built): at a camera's frame rate every
# frame finds the CPU caches cold, and each distinct numpy entry point then costs
# microseconds. Float semantics match to_canonical_batch exactly:
#   * sums are sequential float64 additions, left to right (the batch path adds
#     its columns in the same order), so both see the same `total` and `kept`;
#   * the divisor is float32(kept) (array('f') stores with the same C cast numpy
#     uses), and each quotient is computed in float64 then rounded once to float32
#     by np.array, which equals numpy's float32 division (53 >= 2 * 24 + 2: double
#     rounding is innocuous for division).
# Measured with bench/bench_hot_path.py.
_FLOAT32 = np.float32
_new_array = np.array


def to_canonical(values: array | np.ndarray | Sequence[float], label_map: LabelMap, sum_tolerance: float
                 ) -> tuple[np.ndarray | None, str | None]:
    """(canonical float32[7] summing to 1, None) or (None, reject reason).

    `values`: the frame's float32 probabilities, 1-D: a float32 numpy array or
    an array.array('f') (what rclpy gives for a float32[] field). Other inputs
    are converted to float32 first, as to_canonical_batch does.
    """
    if type(values) is array and values.typecode == "f":
        vals = values.tolist()
    elif type(values) is np.ndarray and values.dtype == _FLOAT32 and values.ndim == 1:
        vals = values.tolist()
    else:
        values = np.asarray(values, dtype=_FLOAT32)
        if values.ndim != 1:
            return None, "wrong_length"
        vals = values.tolist()
    if len(vals) != label_map.input_length:
        return None, "wrong_length"
    total = reduce(add, vals)  # sequential float64 sum, as to_canonical_batch
    if not math.isfinite(total):  # any NaN or inf makes the sum non-finite
        return None, "non_finite"
    if min(vals) < 0.0:
        return None, "negative"
    if total == 0.0:
        return None, "zero_sum"
    if abs(total - 1.0) > sum_tolerance:
        return None, "bad_sum"
    if not label_map.is_identity:
        if label_map.pads:
            vals.append(0.0)
        vals = label_map.gather(vals)
    kept = reduce(add, vals)  # canonical order
    if kept <= 0.0:
        return None, "no_known_emotion"
    k = array("f", (kept,))[0]  # float32(kept): the C cast numpy's float32() does
    a, b, c, d, e, f, g = vals
    return _new_array((a / k, b / k, c / k, d / k, e / k, f / k, g / k), dtype=_FLOAT32), None


def _row_sums(values: np.ndarray) -> np.ndarray:
    """float64 sum of each row of a float32 (N, W) array, adding the columns left
    to right (to_canonical's order; numpy's own sum may add 8+ columns pairwise)."""
    total = values[:, 0].astype(np.float64) if values.shape[1] else np.zeros(values.shape[0])
    for column in range(1, values.shape[1]):
        total += values[:, column]
    return total


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
        total = _row_sums(values)
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
    kept = _row_sums(out)
    no_known = ok & (kept <= 0.0)
    codes[no_known] = REASON_CODE["no_known_emotion"]
    ok &= ~no_known
    kept32 = np.where(ok, kept, 1.0).astype(np.float32)
    out /= kept32[:, None]
    return out, codes
