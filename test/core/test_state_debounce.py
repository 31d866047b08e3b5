"""state_min_duration: a new state is entered only after the hysteresis asked for it that long."""
from __future__ import annotations

import pytest

from valence_ros.core.face_tracker import FaceTracker, TrackerConfig
from valence_ros.core.parameters import DEFAULTS, ParameterError, tracker_config, validate_parameters
from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE

MS = 1_000_000


def run(values, min_duration, step_ms=100, **kwargs):
    """(state, state_changed) per frame for raw valences `values` at step_ms intervals."""
    t = FaceTracker(TrackerConfig(smoothing_time_constant=0.0, state_min_duration=min_duration,
                                  face_timeout=3600.0, **kwargs))
    out = []
    for k, v in enumerate(values):
        frame = t.update("a", k * step_ms * MS, v, now_ns=k * step_ms * MS)
        out.append((frame.state, frame.state_changed))
    return out


def test_zero_is_the_plain_hysteresis():
    values = [0.0, 0.5, 0.0, -0.5, -0.25, 0.0]
    assert run(values, 0.0) == [(NEUTRAL, True), (POSITIVE, True), (NEUTRAL, True),
                                (NEGATIVE, True), (NEGATIVE, False), (NEUTRAL, True)]


def test_a_state_is_entered_after_min_duration_of_stamps():
    # 100 ms frames, 0.3 s: the 4th frame asking for POSITIVE (stamp t0 + 0.3 s) enters it.
    states = run([0.0, 0.5, 0.5, 0.5, 0.5, 0.5], 0.3)
    assert states == [(NEUTRAL, True), (NEUTRAL, False), (NEUTRAL, False), (NEUTRAL, False),
                      (POSITIVE, True), (POSITIVE, False)]


def test_the_first_state_is_immediate():
    assert run([0.9], 5.0) == [(POSITIVE, True)]


def test_a_short_excursion_is_swallowed_and_a_break_starts_over():
    states = run([0.0, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5], 0.3)
    assert [s for s, _ in states] == [NEUTRAL] * 7 + [POSITIVE]
    assert sum(changed for _, changed in states) == 2


def test_a_request_for_another_state_restarts_the_clock():
    # NEUTRAL -> asks POSITIVE twice, then NEGATIVE: POSITIVE's time does not count for NEGATIVE.
    states = run([0.0, 0.5, 0.5, -0.5, -0.5, -0.5, -0.5], 0.3)
    assert [s for s, _ in states] == [NEUTRAL] * 6 + [NEGATIVE]


def test_hysteresis_is_what_must_hold():
    # POSITIVE is left only below 0.3 - 0.1 = 0.2: 0.25 does not ask to leave.
    states = run([0.5, 0.25, 0.25, 0.25, 0.25, 0.1, 0.1, 0.1, 0.1], 0.3)
    assert [s for s, _ in states] == [POSITIVE] * 8 + [NEUTRAL]


def test_rate_independent_by_stamps():
    slow = run([0.0] + [0.5] * 4, 0.3, step_ms=100)             # enters at the 5th frame (+0.3 s)
    fast = run([0.0] + [0.5] * 12, 0.3, step_ms=33)             # asks from 33 ms: enters at 363 ms
    assert [s for s, _ in slow].index(POSITIVE) * 100 == 400
    assert [s for s, _ in fast].index(POSITIVE) == 11


def test_out_of_order_frame_does_not_complete_a_request():
    t = FaceTracker(TrackerConfig(smoothing_time_constant=0.0, state_min_duration=0.3))
    t.update("a", 1000 * MS, 0.0, now_ns=0)
    t.update("a", 1100 * MS, 0.5, now_ns=1)                      # asks POSITIVE since 1.1 s
    late = t.update("a", 1050 * MS, 0.5, now_ns=2)               # out of order
    assert not late.in_order and late.state == NEUTRAL
    assert t.update("a", 1399 * MS, 0.5, now_ns=3).state == NEUTRAL
    assert t.update("a", 1400 * MS, 0.5, now_ns=4).state_changed


def test_reconfigure_takes_effect():
    t = FaceTracker(TrackerConfig(smoothing_time_constant=0.0, state_min_duration=10.0))
    t.update("a", 0, 0.0, now_ns=0)
    assert not t.update("a", 100 * MS, 0.9, now_ns=1).state_changed
    t.reconfigure(TrackerConfig(smoothing_time_constant=0.0, state_min_duration=0.0))
    assert t.update("a", 200 * MS, 0.9, now_ns=2).state == POSITIVE


def test_parameter_table_range_and_tracker_config():
    assert DEFAULTS["state_min_duration"] == 0.0
    assert tracker_config(validate_parameters({"state_min_duration": 0.25})).state_min_duration == 0.25
    for bad in (-0.1, 61.0, float("nan"), "1"):
        with pytest.raises(ParameterError, match=r"'state_min_duration' .* allowed: \[0.0, 60.0\]"):
            validate_parameters({"state_min_duration": bad})
