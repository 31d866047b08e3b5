"""A warning throttle: at most one report per period per key, counting what it held back.

The node, its /clock guard and its executor's callback-error log all warn about
events that can arrive at any rate (a bad publisher at 1 kHz); each uses one of
these so the log gets one line per period, and that line says how many were
not logged.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Hashable

__all__ = ["WarnThrottle"]


class WarnThrottle:
    """``due(key)`` is None while `key` reported less than `period` seconds ago (the event
    is counted as held back), else how many were held back since its last report."""

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic):
        self.period = float(period)
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def due(self, key: Hashable = None) -> int | None:
        now = self._clock()
        if now - self._last.get(key, -math.inf) < self.period:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)
