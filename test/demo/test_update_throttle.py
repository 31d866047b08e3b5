"""`make run`'s valence lines: changes of state or scene at once, the rest rate-limited."""
from __future__ import annotations

import pytest

from valence_ros.demo.update_throttle import UpdateThrottle


def printed(throttle: UpdateThrottle, updates) -> list[float]:
    return [now for now, face, state, scene in updates if throttle.should_print(now, face, state, scene)]


def test_steady_updates_are_limited_to_the_rate():
    throttle = UpdateThrottle(max_per_second=2.0)
    updates = [(k / 15, "", 0, "neutral") for k in range(150)]   # 10 s at 15 Hz, nothing changes
    shown = printed(throttle, updates)
    assert 19 <= len(shown) <= 21
    assert all(b - a >= 0.5 - 1e-9 for a, b in zip(shown, shown[1:]))
    assert throttle.suppressed == 150 - len(shown)


def test_a_change_of_state_or_scene_is_printed_at_once():
    throttle = UpdateThrottle(max_per_second=1.0)
    assert throttle.should_print(0.00, "", 0, "neutral")          # first update of the face
    assert not throttle.should_print(0.10, "", 0, "neutral")
    assert throttle.should_print(0.20, "", 0, "happy")            # scene changed
    assert not throttle.should_print(0.25, "", 0, "happy")
    assert throttle.should_print(0.30, "", 1, "happy")            # state changed
    assert not throttle.should_print(0.35, "", 1, "happy")
    assert throttle.should_print(1.30, "", 1, "happy")            # one interval later
    assert throttle.suppressed == 3


def test_faces_are_followed_separately():
    throttle = UpdateThrottle(max_per_second=1.0)
    assert throttle.should_print(0.0, "a", 0, "neutral")
    assert throttle.should_print(0.1, "b", 0, "neutral")         # b's first update
    assert not throttle.should_print(0.2, "a", 0, "neutral")
    assert throttle.should_print(0.3, "b", 1, "neutral")         # b's state changed, a's did not
    assert not throttle.should_print(0.4, "a", 0, "neutral")


def test_a_state_appearing_counts_as_a_change():
    throttle = UpdateThrottle(max_per_second=1.0)
    assert throttle.should_print(0.0, "", None, "neutral")       # no state received yet
    assert throttle.should_print(0.1, "", 0, "neutral")


def test_print_all_prints_everything():
    throttle = UpdateThrottle(max_per_second=1.0, print_all=True)
    assert len(printed(throttle, [(k / 100, "", 0, "neutral") for k in range(50)])) == 50
    assert throttle.suppressed == 0


@pytest.mark.parametrize("rate", [0, -1.0, float("nan")])
def test_rate_must_be_positive(rate):
    with pytest.raises(ValueError, match="max_per_second"):
        UpdateThrottle(max_per_second=rate)
