"""Label rules: valence from a 7-emotion probability/intensity vector.

Inputs are numpy arrays whose last axis holds the 7 emotions in
:data:`valence_ros.core.emotions.EMOTIONS` order
(neutral, happy, sad, angry, surprised, scared, disgusted); any leading
shape is allowed and the result has that leading shape.

FaceReader rule (default)
-------------------------
Noldus FaceReader defines valence as the intensity of the positive
expression minus the intensity of the strongest negative one:

    valence = happy - max(sad, angry, scared, disgusted)

Neutral and surprised do not contribute (surprise can be either). With
intensities in [0, 1] the result is in [-1, 1].
Source: Noldus Information Technology, *FaceReader Reference Manual*
(section "Valence"; also described in Loijens & Krips, *FaceReader
Methodology Note*, Noldus). The seed model card's labels are "valence
values derived from emotion vectors"; this is the rule we train on by
default.

Weighted-sum rule (alternative, ``--rule weighted``)
----------------------------------------------------
    valence = sum_i w_i * p_i

with per-emotion weights; the defaults are pleasure (P) values for the
basic emotions after Mehrabian's pleasure-arousal-dominance (PAD) model
(Mehrabian & Russell 1974; Mehrabian 1996), as fixed by this project:
neutral 0, happy 0.81, sad -0.63, angry -0.51, surprised 0.40,
scared -0.64, disgusted -0.60. For a probability vector the result is in
[min w, max w] = [-0.64, 0.81]. Unlike the FaceReader rule it counts
surprise as pleasant and sums co-occurring negatives.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from valence_ros.core.emotions import EMOTIONS, NUM_EMOTIONS

__all__ = [
    "MEHRABIAN_WEIGHTS",
    "RULES",
    "facereader_valence",
    "weighted_valence",
    "weights_vector",
    "label",
]

# Pleasure values of the PAD model, in EMOTIONS order (dict keeps names).
MEHRABIAN_WEIGHTS = {
    "neutral": 0.0,
    "happy": 0.81,
    "sad": -0.63,
    "angry": -0.51,
    "surprised": 0.40,
    "scared": -0.64,
    "disgusted": -0.60,
}
# Valence weights per emotion: by name (a dict), or a length-7 sequence in EMOTIONS order.
Weights = dict[str, float] | Sequence[float] | np.ndarray

_HAPPY = EMOTIONS.index("happy")
_NEGATIVE = tuple(EMOTIONS.index(e) for e in ("sad", "angry", "scared", "disgusted"))


def _as_probs(probs: ArrayLike) -> np.ndarray:
    a = np.asarray(probs)
    if a.ndim == 0 or a.shape[-1] != NUM_EMOTIONS:
        raise ValueError(
            f"expected a last axis of {NUM_EMOTIONS} emotions {EMOTIONS}, got shape {a.shape}"
        )
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    return a


def facereader_valence(probs: ArrayLike) -> np.ndarray:
    """FaceReader valence: happy - max(sad, angry, scared, disgusted).

    ``probs``: array of shape (..., 7). Returns shape (...), same float
    dtype as the input (float64 for integer input).
    """
    a = _as_probs(probs)
    neg = a[..., _NEGATIVE[0]]
    for i in _NEGATIVE[1:]:
        neg = np.maximum(neg, a[..., i])
    return a[..., _HAPPY] - neg


def weights_vector(weights: Weights | None = None) -> np.ndarray:
    """Weights as a float64 array in EMOTIONS order.

    ``weights`` may be a dict keyed by emotion name (missing names count 0,
    unknown names are an error), a length-7 sequence, or None (Mehrabian).
    """
    if weights is None:
        weights = MEHRABIAN_WEIGHTS
    if isinstance(weights, dict):
        unknown = set(weights) - set(EMOTIONS)
        if unknown:
            raise ValueError(f"unknown emotion names in weights: {sorted(unknown)}; expected {EMOTIONS}")
        return np.array([float(weights.get(e, 0.0)) for e in EMOTIONS], dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (NUM_EMOTIONS,):
        raise ValueError(f"weights need {NUM_EMOTIONS} values in order {EMOTIONS}, got {w.size}")
    return w


def weighted_valence(probs: ArrayLike, weights: Weights = MEHRABIAN_WEIGHTS) -> np.ndarray:
    """Weighted-sum valence: sum_i weights[i] * probs[..., i].

    Returns shape (...), in the input's float dtype.
    """
    a = _as_probs(probs)
    w = weights_vector(weights).astype(a.dtype, copy=False)
    return a @ w


RULES = {
    "facereader": facereader_valence,
    "weighted": weighted_valence,
}


def label(probs: ArrayLike, rule: str = "facereader", weights: Weights | None = None) -> np.ndarray:
    """Apply the named rule ("facereader" or "weighted")."""
    if rule == "facereader":
        if weights is not None:
            raise ValueError("the facereader rule takes no weights")
        return facereader_valence(probs)
    if rule == "weighted":
        return weighted_valence(probs, MEHRABIAN_WEIGHTS if weights is None else weights)
    raise ValueError(f"unknown rule {rule!r}; choose one of {sorted(RULES)}")
