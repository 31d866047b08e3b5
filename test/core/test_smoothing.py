"""Stamp-driven exponential smoothing: rate independence, composition, rules."""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valence_ros.core.smoothing import ExponentialSmoother, smoothing_alpha

MS = 1_000_000


def run(frames, tau):
    smoother = ExponentialSmoother(tau)
    return [smoother.update(stamp, x)[0] for stamp, x in frames]


def test_alpha_values():
    assert smoothing_alpha(0.1, 0.0) == 1.0          # smoothing off
    assert smoothing_alpha(0.0, 0.5) == 0.0          # same stamp: no move
    assert smoothing_alpha(-0.1, 0.5) == 0.0         # never a negative step
    assert smoothing_alpha(0.5, 0.5) == pytest.approx(1 - math.exp(-1))
    assert 0.0 < smoothing_alpha(1e-9, 60.0) < 1e-9


@settings(derandomize=True, max_examples=200, deadline=None)
@given(dt=st.floats(1e-4, 5.0), tau=st.floats(1e-3, 60.0))
def test_alpha_composes_two_steps_of_dt_equal_one_step_of_2dt(dt, tau):
    # For a constant input x the remaining distance shrinks by (1 - alpha) per step.
    a1, a2 = smoothing_alpha(dt, tau), smoothing_alpha(2 * dt, tau)
    assert (1 - a1) ** 2 == pytest.approx(1 - a2, rel=1e-9, abs=1e-12)
    s1 = ExponentialSmoother(tau)
    s1.update(0, 0.0)
    s1.update(int(dt * 1e9), 1.0)
    two = s1.update(int(2 * dt * 1e9), 1.0)[0]
    s2 = ExponentialSmoother(tau)
    s2.update(0, 0.0)
    one = s2.update(int(2 * dt * 1e9), 1.0)[0]
    assert two == pytest.approx(one, rel=1e-6, abs=1e-9)


def test_same_frames_give_same_output_regardless_of_arrival_timing():
    """The filter only sees stamps: the same frames give identical output whether they
    came at 15 Hz, 30 Hz or in a 10x replay burst (arrival time is not an input)."""
    rng = random.Random(3)
    frames = [(i * 33 * MS, rng.uniform(-1, 1)) for i in range(300)]
    reference = run(frames, 0.5)
    assert run(list(frames), 0.5) == reference  # bit-identical
    # Two interleaved faces sharing nothing: each equals its own solo run.
    other = [(s, -x) for s, x in frames]
    a, b = ExponentialSmoother(0.5), ExponentialSmoother(0.5)
    out_a, out_b = [], []
    for (sa, xa), (sb, xb) in zip(frames, other):
        out_a.append(a.update(sa, xa)[0])
        out_b.append(b.update(sb, xb)[0])
    assert out_a == reference and out_b == run(other, 0.5)


def test_different_sampling_rates_of_a_constant_converge_identically():
    # A step to 1.0 sampled at 15 Hz and at 30 Hz: same value at common stamps
    # (up to rounding), because alpha composes.
    def step_response(period_ms, until_ms):
        s = ExponentialSmoother(0.5)
        s.update(0, 0.0)
        out = {}
        for t in range(period_ms, until_ms + 1, period_ms):
            out[t] = s.update(t * MS, 1.0)[0]
        return out
    slow, fast = step_response(66, 1980), step_response(33, 1980)
    for t, value in slow.items():
        assert fast[t] == pytest.approx(value, abs=1e-12)
        assert value == pytest.approx(1 - math.exp(-t / 500), abs=1e-12)


def test_first_sample_starts_the_filter():
    s = ExponentialSmoother(10.0)
    assert s.update(5 * MS, 0.7) == (0.7, True)


def test_out_of_order_keeps_value_and_clock():
    s = ExponentialSmoother(0.5)
    s.update(1000 * MS, 1.0)
    v, ok = s.update(1100 * MS, -1.0)
    assert ok
    assert s.update(1050 * MS, 1.0) == (v, False)
    assert s.last_stamp_ns == 1100 * MS
    # An equal stamp is in order but moves nothing (dt = 0).
    assert s.update(1100 * MS, 1.0) == (v, True)


def test_zero_time_constant_is_passthrough():
    frames = [(i * MS, x) for i, x in enumerate([0.1, -0.9, 0.5, 1.0])]
    assert run(frames, 0.0) == [0.1, -0.9, 0.5, 1.0]


def test_output_stays_within_input_range():
    rng = random.Random(11)
    frames = sorted((rng.randint(0, 10**10), rng.uniform(-1, 1)) for _ in range(500))
    assert all(-1.0 <= v <= 1.0 for v in run(frames, 0.3))
