"""core.throttle: one report per period per key, and the count of what was held back."""
from __future__ import annotations

from valence_ros.core.throttle import WarnThrottle


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_first_event_reports_then_the_rest_of_the_period_is_held_and_counted():
    clock = FakeClock()
    throttle = WarnThrottle(5.0, clock)
    assert throttle.due() == 0
    assert [throttle.due() for _ in range(3)] == [None, None, None]
    clock.now += 4.999
    assert throttle.due() is None
    clock.now += 0.001
    assert throttle.due() == 4          # four held back since the last report
    assert throttle.due() is None
    clock.now += 5.0
    assert throttle.due() == 1


def test_keys_are_throttled_separately():
    clock = FakeClock()
    throttle = WarnThrottle(1.0, clock)
    assert throttle.due("nan") == 0
    assert throttle.due("bad_sum") == 0
    assert throttle.due("nan") is None
    clock.now += 1.0
    assert throttle.due("bad_sum") == 0
    assert throttle.due("nan") == 1


def test_period_zero_reports_every_event():
    throttle = WarnThrottle(0.0, FakeClock())
    assert [throttle.due() for _ in range(3)] == [0, 0, 0]
