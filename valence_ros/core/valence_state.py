"""Discrete valence state (NEGATIVE / NEUTRAL / POSITIVE) with hysteresis.

A behaviour tree wants a state that does not chatter when valence hovers at a
threshold. Entering POSITIVE needs valence >= positive_threshold; leaving it
needs valence < positive_threshold - hysteresis (mirrored for NEGATIVE). On
leaving, the state is re-classified from scratch, so a jump straight from
positive to negative goes to NEGATIVE, not via NEUTRAL. That needs
hysteresis < positive_threshold - negative_threshold, which parameters.py
enforces; otherwise valence beyond the opposite threshold could stay inside
the old state's band.
"""
from __future__ import annotations

from dataclasses import dataclass

NEGATIVE = -1
NEUTRAL = 0
POSITIVE = 1
# Not a valence state: the node no longer tracks the face (it left, was evicted, the
# clock reset or the node stopped). Published so a late joiner never sees a stale state.
UNKNOWN = 2
STATE_NAMES = {NEGATIVE: "NEGATIVE", NEUTRAL: "NEUTRAL", POSITIVE: "POSITIVE", UNKNOWN: "UNKNOWN"}


@dataclass(frozen=True)
class StateThresholds:
    positive_threshold: float = 0.3
    negative_threshold: float = -0.3
    hysteresis: float = 0.1


def classify(valence: float, t: StateThresholds) -> int:
    """State of a value with no history (a face's first frame)."""
    if valence >= t.positive_threshold:
        return POSITIVE
    if valence <= t.negative_threshold:
        return NEGATIVE
    return NEUTRAL


def next_state(state: int, valence: float, t: StateThresholds) -> int:
    """State after observing `valence` while in `state`."""
    if state == POSITIVE:
        if valence >= t.positive_threshold - t.hysteresis:
            return POSITIVE
    elif state == NEGATIVE:
        if valence <= t.negative_threshold + t.hysteresis:
            return NEGATIVE
    return classify(valence, t)
