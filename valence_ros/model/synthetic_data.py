"""Seeded generator of per-frame FER-like emotion distributions.

The seed model card targets *low-expressiveness* footage (interviews, lab
participants, patients): most frames are a neutral face, expressions are
occasional, mostly weak or brief (onset/offset frames), strong ones are
rare, and the classes are imbalanced. We have no licence-free FER output
of such footage to ship, so training and evaluation data are synthesised
by a documented, seeded process that mimics what a frame-level FER model
(softmax over 7 classes, printed with a few decimals) emits for it.

One frame is made like this (all draws from one ``numpy.random.Generator``):

1. **Regime.** With probabilities ``p_neutral / p_weak / p_strong /
   p_blend`` the frame shows no expression, a weak one, a strong one, or
   a blend of two emotions.
2. **Background.** A neutral-dominant "no expression" distribution
   ``b ~ Dirichlet(background_concentration * background_mean)``: the
   FER model's output for a still face, mostly neutral with a little
   mass leaking to the other classes (sad/happy most, as typical FER
   models do on resting faces).
3. **Expression.** For an expressive frame an emotion ``e`` is drawn from
   ``emotion_prior`` (imbalanced: happy and surprised common, scared and
   angry rare) and an intensity ``a`` uniformly from ``weak_range`` or
   ``strong_range``. A share ``c ~ U(0, max_confusion)`` of the expressed
   mass goes to the emotion FER models most confuse with ``e``
   (:data:`CONFUSION_PARTNER`, e.g. angry<->disgusted, scared<->surprised).
   The frame is ``(1 - a) * b + a * ((1 - c) * onehot(e) + c * onehot(partner))``.
   A blend draws two distinct emotions with intensities from
   ``blend_range`` and mixes both in the same way.
4. **FER-like output.** Probabilities are rounded to ``decimals`` places
   (the ``fer`` package and most FER exporters print 2) and renormalised to
   sum to 1, like a consumer that renormalises the rounded numbers.

Labels are computed afterwards from the emitted vector by a label rule
(:mod:`valence_ros.model.valence_rule`), i.e. exactly what the model sees.

Presets
-------
* :data:`LOW_EXPRESSIVENESS` - the card's target domain; the default for
  training, validation and test.
* :data:`HIGH_EXPRESSIVENESS` - a distribution *shift* set (movies, vlogs):
  frequent strong and blended expressions, balanced classes and a
  noisier background. The card says the model "is not ideal" there; we
  report it separately and never train on it.

:func:`simplex_coverage` draws broad samples over the whole probability
simplex (one-hot corners, near-one-hot, pairwise mixes, Dirichlet of
several concentrations); the default training recipe mixes these in so
the regressor is right at the corners and off-domain too.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from valence_ros.core.emotions import EMOTIONS, NUM_EMOTIONS

if TYPE_CHECKING:
    from valence_ros.model.valence_rule import Weights

# A seed for numpy.random.default_rng, or a Generator used as is.
Seed = int | np.random.Generator | None

__all__ = [
    "FERDistributionConfig",
    "LOW_EXPRESSIVENESS",
    "HIGH_EXPRESSIVENESS",
    "PRESETS",
    "CONFUSION_PARTNER",
    "generate_frames",
    "simplex_coverage",
    "make_dataset",
]

EXPRESSIVE = tuple(e for e in EMOTIONS if e != "neutral")

# Emotion -> the class a FER model most often confuses it with.
CONFUSION_PARTNER = {
    "happy": "neutral",
    "sad": "scared",
    "angry": "disgusted",
    "surprised": "scared",
    "scared": "surprised",
    "disgusted": "angry",
}


@dataclass(frozen=True)
class FERDistributionConfig:
    """Parameters of the frame generator (see module docstring).

    Attributes:
        name: preset name, recorded in training reports.
        p_neutral: share of frames with no expression (background only).
        p_weak: share of frames with one weak/brief expression.
        p_strong: share of frames with one strong expression.
        p_blend: share of frames blending two expressions.
            The four shares must sum to 1.
        emotion_prior: relative frequency of the expressed emotion, in
            :data:`EXPRESSIVE` order (happy, sad, angry, surprised, scared,
            disgusted); normalised internally.
        weak_range: (low, high) of the uniform intensity of weak expressions.
        strong_range: (low, high) of the uniform intensity of strong ones.
        blend_range: (low, high) of each component's intensity in a blend
            (their sum is capped at 1).
        background_mean: mean of the still-face distribution, EMOTIONS order.
        background_concentration: Dirichlet concentration of that
            background (higher = less frame-to-frame noise).
        max_confusion: largest share of an expression leaked to its
            confusion partner.
        decimals: decimal places the FER output is rounded to before
            renormalisation (None = no rounding).
    """

    name: str = "low_expressiveness"
    p_neutral: float = 0.72
    p_weak: float = 0.22
    p_strong: float = 0.04
    p_blend: float = 0.02
    emotion_prior: tuple = (0.34, 0.16, 0.07, 0.20, 0.06, 0.17)
    weak_range: tuple = (0.03, 0.45)
    strong_range: tuple = (0.45, 0.97)
    blend_range: tuple = (0.05, 0.5)
    background_mean: tuple = (0.86, 0.035, 0.05, 0.015, 0.015, 0.015, 0.01)
    background_concentration: float = 40.0
    max_confusion: float = 0.25
    decimals: int | None = 2

    def __post_init__(self) -> None:
        shares = (self.p_neutral, self.p_weak, self.p_strong, self.p_blend)
        if min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"{self.name}: regime shares must be >= 0 and sum to 1, got {shares}")
        if len(self.emotion_prior) != len(EXPRESSIVE) or min(self.emotion_prior) < 0 or sum(self.emotion_prior) <= 0:
            raise ValueError(f"{self.name}: emotion_prior needs {len(EXPRESSIVE)} non-negative values {EXPRESSIVE}")
        if len(self.background_mean) != NUM_EMOTIONS or min(self.background_mean) <= 0:
            raise ValueError(f"{self.name}: background_mean needs {NUM_EMOTIONS} positive values {EMOTIONS}")
        for rname in ("weak_range", "strong_range", "blend_range"):
            lo, hi = getattr(self, rname)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"{self.name}: {rname} must satisfy 0 <= low <= high <= 1")
        if not 0.0 <= self.max_confusion <= 1.0:
            raise ValueError(f"{self.name}: max_confusion must be in [0, 1]")
        if self.background_concentration <= 0:
            raise ValueError(f"{self.name}: background_concentration must be > 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


LOW_EXPRESSIVENESS = FERDistributionConfig()

HIGH_EXPRESSIVENESS = FERDistributionConfig(
    name="high_expressiveness_shift",
    p_neutral=0.15,
    p_weak=0.25,
    p_strong=0.40,
    p_blend=0.20,
    emotion_prior=(0.22, 0.16, 0.16, 0.16, 0.14, 0.16),
    weak_range=(0.1, 0.5),
    strong_range=(0.5, 1.0),
    blend_range=(0.15, 0.7),
    background_mean=(0.55, 0.08, 0.09, 0.07, 0.08, 0.07, 0.06),
    background_concentration=8.0,
    max_confusion=0.4,
    decimals=2,
)

PRESETS = {c.name: c for c in (LOW_EXPRESSIVENESS, HIGH_EXPRESSIVENESS)}

_PARTNER_IDX = np.array(
    [EMOTIONS.index(CONFUSION_PARTNER[e]) for e in EXPRESSIVE], dtype=np.int64
)
_EXPR_IDX = np.array([EMOTIONS.index(e) for e in EXPRESSIVE], dtype=np.int64)


def _rng(seed_or_rng: Seed) -> np.random.Generator:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def _fer_round(p: np.ndarray, decimals: int | None) -> np.ndarray:
    if decimals is not None:
        p = np.round(p, decimals)
    s = p.sum(axis=1, keepdims=True)
    # Rounding can only zero a row whose max < 0.5*10**-decimals: impossible
    # for a 7-class distribution (max >= 1/7), but guard anyway.
    bad = s[:, 0] <= 0
    if bad.any():
        p[bad] = 1.0 / NUM_EMOTIONS
        s[bad] = 1.0
    return p / s


def _expression(rng: np.random.Generator, n: int, prior: np.ndarray, intensity_range: tuple[float, float],
                max_confusion: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of (emotion mass vector, intensity) for n expressions."""
    k = rng.choice(len(EXPRESSIVE), size=n, p=prior)
    a = rng.uniform(intensity_range[0], intensity_range[1], size=n)
    c = rng.uniform(0.0, max_confusion, size=n)
    m = np.zeros((n, NUM_EMOTIONS))
    rows = np.arange(n)
    m[rows, _EXPR_IDX[k]] += 1.0 - c
    m[rows, _PARTNER_IDX[k]] += c
    return m, a, k


def generate_frames(n: int, config: FERDistributionConfig = LOW_EXPRESSIVENESS, seed: Seed = 0) -> np.ndarray:
    """``n`` FER-like probability vectors, shape (n, 7) float32, EMOTIONS order.

    ``seed`` is an int (or None) for ``numpy.random.default_rng`` or a
    ``numpy.random.Generator``; the same seed gives the same frames.
    """
    n = int(n)
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = _rng(seed)
    prior = np.asarray(config.emotion_prior, dtype=np.float64)
    prior = prior / prior.sum()
    mean = np.asarray(config.background_mean, dtype=np.float64)
    alpha = config.background_concentration * mean / mean.sum()

    p = rng.dirichlet(alpha, size=n)
    regime = rng.choice(
        4, size=n, p=[config.p_neutral, config.p_weak, config.p_strong, config.p_blend]
    )
    for r, rng_range in ((1, config.weak_range), (2, config.strong_range)):
        idx = np.flatnonzero(regime == r)
        if idx.size:
            m, a, _ = _expression(rng, idx.size, prior, rng_range, config.max_confusion)
            p[idx] = (1.0 - a)[:, None] * p[idx] + a[:, None] * m
    idx = np.flatnonzero(regime == 3)
    if idx.size:
        m1, a1, k1 = _expression(rng, idx.size, prior, config.blend_range, config.max_confusion)
        # second emotion: drawn from the prior, forced distinct from the first
        k2 = (k1 + rng.integers(1, len(EXPRESSIVE), size=idx.size)) % len(EXPRESSIVE)
        a2 = rng.uniform(config.blend_range[0], config.blend_range[1], size=idx.size)
        tot = a1 + a2
        scale = np.where(tot > 1.0, 1.0 / tot, 1.0)
        a1, a2 = a1 * scale, a2 * scale
        m2 = np.zeros_like(m1)
        m2[np.arange(idx.size), _EXPR_IDX[k2]] = 1.0
        p[idx] = (1.0 - a1 - a2)[:, None] * p[idx] + a1[:, None] * m1 + a2[:, None] * m2
    return _fer_round(p, config.decimals).astype(np.float32)


def simplex_coverage(n: int, seed: Seed = 0) -> np.ndarray:
    """Broad samples over the whole 7-simplex, shape (n, 7) float32.

    Mixture (by share): 10 % exact one-hot corners, 20 % near-one-hot
    (a corner mixed with <= 15 % Dirichlet noise), 20 % pairwise mixes of
    two corners plus a little noise, and 50 % Dirichlet(alpha) with alpha
    drawn from {0.05, 0.2, 0.5, 1.0, 3.0} (sparse to near-uniform). Half
    of the rows are then FER-rounded to 2 decimals.
    """
    n = int(n)
    rng = _rng(seed)
    parts = rng.choice(4, size=n, p=[0.10, 0.20, 0.20, 0.50])
    out = np.empty((n, NUM_EMOTIONS))

    eye = np.eye(NUM_EMOTIONS)
    k = rng.integers(0, NUM_EMOTIONS, size=n)
    noise = rng.dirichlet(np.ones(NUM_EMOTIONS), size=n)

    sel = parts == 0
    out[sel] = eye[k[sel]]
    sel = parts == 1
    eps = rng.uniform(0.0, 0.15, size=n)[:, None]
    out[sel] = ((1 - eps) * eye[k] + eps * noise)[sel]
    sel = parts == 2
    k2 = (k + rng.integers(1, NUM_EMOTIONS, size=n)) % NUM_EMOTIONS
    w = rng.uniform(0.0, 1.0, size=n)[:, None]
    eps2 = rng.uniform(0.0, 0.05, size=n)[:, None]
    mix = (1 - eps2) * (w * eye[k] + (1 - w) * eye[k2]) + eps2 * noise
    out[sel] = mix[sel]
    sel = np.flatnonzero(parts == 3)
    alphas = np.array([0.05, 0.2, 0.5, 1.0, 3.0])
    a_idx = rng.integers(0, alphas.size, size=sel.size)
    for j, a in enumerate(alphas):
        rows_j = sel[a_idx == j]
        if rows_j.size:
            d = rng.dirichlet(np.full(NUM_EMOTIONS, a), size=rows_j.size)
            # Dirichlet with small alpha can underflow to all-zero rows
            bad = ~np.isfinite(d).all(axis=1) | (d.sum(axis=1) <= 0)
            d[bad] = eye[rng.integers(0, NUM_EMOTIONS, size=int(bad.sum()))]
            out[rows_j] = d
    out /= out.sum(axis=1, keepdims=True)
    rounded = rng.random(n) < 0.5
    out[rounded] = _fer_round(out[rounded], 2)
    return out.astype(np.float32)


def make_dataset(n: int, config: FERDistributionConfig = LOW_EXPRESSIVENESS, seed: Seed = 0,
                 rule: str = "facereader", weights: Weights | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): ``generate_frames`` plus labels from ``rule``; both float32."""
    from valence_ros.model.valence_rule import label

    X = generate_frames(n, config, seed)
    y = label(X.astype(np.float64), rule, weights).astype(np.float32)
    return X, y
