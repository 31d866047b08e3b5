"""Exponential smoothing driven by header stamps, not by arrival order or rate.

For a frame `dt` seconds after the previous one the filter moves by
alpha = 1 - exp(-dt / tau) towards the new value. That is the exact discrete
form of a first-order low-pass with time constant tau, so the output depends
only on the stamped frames: a bag replayed at 10x, or a FER node at 15 Hz
instead of 30 Hz sampling the same signal, gives the same curve.
"""
from __future__ import annotations

import math


def smoothing_alpha(dt_seconds: float, time_constant: float) -> float:
    """Weight of the new sample after dt seconds (1 when smoothing is off).

    dt <= 0 (a repeated or late stamp) gives 0: the past cannot be rewritten.
    """
    if time_constant <= 0.0:
        return 1.0
    if dt_seconds <= 0.0:
        return 0.0
    return -math.expm1(-dt_seconds / time_constant)


class ExponentialSmoother:
    """One signal's filter state; the first sample starts it at that sample."""

    __slots__ = ("time_constant", "value", "last_stamp_ns")

    def __init__(self, time_constant: float):
        self.time_constant = time_constant
        self.value: float | None = None
        self.last_stamp_ns = 0

    def update(self, stamp_ns: int, x: float) -> tuple[float, bool]:
        """(smoothed value, in_order). A stamp older than the last one is
        out of order: the filter keeps its value and its clock."""
        if self.value is None:
            self.value = x
            self.last_stamp_ns = stamp_ns
            return x, True
        dt_ns = stamp_ns - self.last_stamp_ns
        if dt_ns < 0:
            return self.value, False
        alpha = smoothing_alpha(dt_ns * 1e-9, self.time_constant)
        # alpha == 1 (smoothing off, or a long gap) must give x exactly, not
        # value + (x - value), which can differ from x in the last bit.
        self.value = x if alpha >= 1.0 else self.value + alpha * (x - self.value)
        self.last_stamp_ns = stamp_ns
        return self.value, True
