"""Valence on a common time grid: irregular frame stamps -> bin means, gaps -> NaN.

Bin k of a grid starting at start_ns with step step_ns holds the frames with
start_ns + k*step_ns <= stamp < start_ns + (k+1)*step_ns; its value is their
mean valence (every face of the session pooled), NaN when it holds none - a
face-loss gap longer than a bin stays a gap, it is not interpolated over.
Camera jitter only moves a frame between neighbouring bins. Sessions (or
event occurrences) on the same grid are then averaged point by point
(offline.describe.describe_columns).
"""
from __future__ import annotations

import numpy as np

__all__ = ["bin_sums", "bin_means", "MAX_GRID_POINTS"]

MAX_GRID_POINTS = 1_000_000   # one session's grid (8 MB of float64): bounds memory for a tiny step


def bin_sums(stamp_ns: np.ndarray, values: np.ndarray, start_ns: int, step_ns: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum of values, number of frames) per bin; frames outside the grid are left out."""
    stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
    k = (stamp_ns - np.int64(start_ns)) // np.int64(step_ns)
    inside = (stamp_ns >= start_ns) & (k < bins)
    k = k[inside]
    sums = np.bincount(k, weights=np.asarray(values, dtype=np.float64)[inside], minlength=bins)[:bins]
    counts = np.bincount(k, minlength=bins)[:bins]
    return sums, counts


def bin_means(stamp_ns: np.ndarray, values: np.ndarray, start_ns: int, step_ns: int, bins: int) -> np.ndarray:
    sums, counts = bin_sums(stamp_ns, values, start_ns, step_ns, bins)
    out = np.full(bins, np.nan)
    have = counts > 0
    out[have] = sums[have] / counts[have]
    return out
