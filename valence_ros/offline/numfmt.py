"""Vectorised decimal formatting of whole numpy columns (for CSV and SQL text).

Python's per-value formatting (str(), "%.9f", csv, np.savetxt) costs about a
microsecond per value; these build fixed-width byte matrices with a few
numpy operations per column instead. NUL bytes mark padding; callers remove
them (``bytes.replace(b"\\0", b"")``) or turn them into spaces.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ascii_ints", "fixed9"]


def ascii_ints(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) uint8 of right-aligned decimal integers, NUL-padded on the left."""
    values = np.asarray(values, dtype=np.int64)
    n = len(values)
    negative = values < 0
    magnitude = np.abs(values).astype(np.uint64)  # |int64 min| wraps to 2**63: still right
    out = np.empty((n, width), dtype=np.uint8)
    rest = magnitude.copy()
    for col in range(width - 1, -1, -1):
        out[:, col] = (rest % np.uint64(10)).astype(np.uint8)
        rest //= np.uint64(10)
    out += ord("0")
    # digits in each value (at least one), then blank the leading zeros
    ndigits = np.searchsorted(10 ** np.arange(1, 20, dtype=np.uint64), magnitude, side="right") + 1
    first = width - ndigits
    out[np.arange(width)[None, :] < first[:, None]] = 0
    if negative.any():
        rows = np.flatnonzero(negative)
        out[rows, first[rows] - 1] = ord("-")
    return out


def fixed9(values: np.ndarray) -> np.ndarray:
    """(n, 12) uint8 of values in [-9.5, 9.5] with 9 decimals ("-0.123456789"), NUL-padded."""
    scaled = np.rint(np.asarray(values, dtype=np.float64) * 1e9).astype(np.int64)
    negative = scaled < 0
    magnitude = np.abs(scaled)
    out = np.empty((len(scaled), 12), dtype=np.uint8)
    out[:, 0] = np.where(negative, ord("-"), 0)
    integer, fraction = np.divmod(magnitude, 1_000_000_000)
    out[:, 1] = integer + ord("0")
    out[:, 2] = ord(".")
    for col in range(11, 2, -1):
        fraction, digit = np.divmod(fraction, 10)
        out[:, col] = digit + ord("0")
    return out
