"""Discrete state with hysteresis."""
from __future__ import annotations

import pytest

from valence_ros.core.valence_state import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    StateThresholds,
    classify,
    next_state,
)

T = StateThresholds(positive_threshold=0.3, negative_threshold=-0.3, hysteresis=0.1)


@pytest.mark.parametrize("v, state", [(0.3, POSITIVE), (0.29, NEUTRAL), (-0.3, NEGATIVE),
                                      (-0.29, NEUTRAL), (1.0, POSITIVE), (-1.0, NEGATIVE), (0.0, NEUTRAL)])
def test_classify(v, state):
    assert classify(v, T) == state


def run(values, start=NEUTRAL):
    states, state = [], start
    for v in values:
        state = next_state(state, v, T)
        states.append(state)
    return states


def test_hysteresis_band_holds_positive_and_negative():
    assert run([0.35, 0.25, 0.21, 0.2, 0.19]) == [POSITIVE] * 4 + [NEUTRAL]
    assert run([-0.35, -0.25, -0.2, -0.19]) == [NEGATIVE] * 3 + [NEUTRAL]


def test_no_chatter_around_a_threshold():
    values = [0.31, 0.29, 0.31, 0.28, 0.32, 0.27]
    states = run(values)
    assert states == [POSITIVE] * len(values)
    assert run([0.29, 0.29, 0.25]) == [NEUTRAL] * 3  # entering needs the threshold itself


def test_direct_jump_across_goes_straight_to_the_other_state():
    assert run([0.5, -0.5]) == [POSITIVE, NEGATIVE]
    assert run([-0.5, 0.5]) == [NEGATIVE, POSITIVE]


def test_zero_hysteresis_is_plain_thresholds():
    t = StateThresholds(0.3, -0.3, 0.0)
    assert next_state(POSITIVE, 0.299, t) == NEUTRAL
    assert next_state(POSITIVE, 0.3, t) == POSITIVE


def test_next_state_is_idempotent_for_the_same_value():
    for v in [x / 100 for x in range(-100, 101)]:
        for s in (NEGATIVE, NEUTRAL, POSITIVE):
            once = next_state(s, v, T)
            assert next_state(once, v, T) == once
