"""Regression metrics for valence (pure numpy, no torch).

All functions take ``y_true`` and ``y_pred`` as array-likes of the same
length, flatten them, compute in float64 and return a Python float.

* ``mae``  - mean absolute error.
* ``rmse`` - root mean squared error.
* ``r2``   - coefficient of determination, 1 - SS_res / SS_tot.
* ``ccc``  - Lin's concordance correlation coefficient (Lin 1989),
  ``2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))**2)`` with
  population (ddof=0) moments. Unlike Pearson's r it penalises bias and
  scale errors, so a prediction must *agree* with the target, not merely
  correlate with it; it is the usual score for continuous valence.

Degenerate cases follow one convention: when the denominator is zero
(constant targets for R2; constant and identical targets and predictions
for CCC) the score is 1.0 for a perfect prediction and 0.0 otherwise
(scikit-learn's ``force_finite`` convention), so reports never hold NaN.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["mae", "rmse", "r2", "ccc", "regression_report"]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("metrics need at least one value")
    return t, p


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(math.sqrt(np.mean((t - p) ** 2)))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination (can be negative for bad fits)."""
    t, p = _pair(y_true, y_pred)
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def ccc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Lin's concordance correlation coefficient, in [-1, 1]."""
    t, p = _pair(y_true, y_pred)
    mt, mp = t.mean(), p.mean()
    dt, dp = t - mt, p - mp
    cov = float(np.mean(dt * dp))
    denom = float(np.mean(dt * dt) + np.mean(dp * dp) + (mt - mp) ** 2)
    if denom == 0.0:
        return 1.0  # both constant and equal: perfect agreement
    return 2.0 * cov / denom


def regression_report(y_true: ArrayLike, y_pred: ArrayLike) -> dict:
    """All four metrics plus the sample count, as a JSON-ready dict."""
    t, p = _pair(y_true, y_pred)
    return {
        "n": int(t.size),
        "mae": mae(t, p),
        "rmse": rmse(t, p),
        "r2": r2(t, p),
        "ccc": ccc(t, p),
    }
