"""Per-face tracking: isolation, first frame, expiry, eviction, out-of-order rule."""
from __future__ import annotations

from valence_ros.core.face_tracker import (
    CLOCK_RESET, EVICTED, EXPIRED, SHUTDOWN, FaceTracker, GoneFace, TrackerConfig)
from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE, StateThresholds

SEC = 1_000_000_000


def tracker(**kwargs):
    return FaceTracker(TrackerConfig(**{"smoothing_time_constant": 0.5, "face_timeout": 2.0,
                                        "max_faces": 4, **kwargs}))


def test_first_frame_starts_at_raw_and_reports_its_state():
    t = tracker()
    frame = t.update("a", 10 * SEC, 0.8, now_ns=10 * SEC)
    assert frame.valence == 0.8 and frame.state == POSITIVE
    assert frame.state_changed and frame.in_order


def test_faces_are_isolated():
    t = tracker()
    for i in range(20):
        a = t.update("a", i * SEC // 30, 0.9, now_ns=i * SEC // 30)
        b = t.update("b", i * SEC // 30, -0.9, now_ns=i * SEC // 30)
        assert a.valence == 0.9 and b.valence == -0.9
    assert t.state_of("a") == POSITIVE and t.state_of("b") == NEGATIVE
    assert sorted(t.face_ids()) == ["a", "b"]


def test_state_changed_only_on_transitions():
    t = tracker(smoothing_time_constant=0.0)
    changes = [t.update("a", i * SEC, v, i * SEC).state_changed
               for i, v in enumerate([0.0, 0.1, 0.5, 0.25, 0.1, -0.5])]
    assert changes == [True, False, True, False, True, True]


def test_expiry_by_timer_and_restart_at_raw():
    t = tracker()
    t.update("a", 0, 0.9, now_ns=0)
    t.update("b", 0, 0.9, now_ns=1 * SEC)
    assert t.expire(2 * SEC) == []            # exactly face_timeout: still there
    assert t.expire(2 * SEC + 1) == [GoneFace("a", EXPIRED, POSITIVE, 0.9)]
    assert len(t) == 1 and t.expired == 1 and not t.has_gone
    frame = t.update("a", SEC // 10, -0.9, now_ns=2 * SEC + 2)
    assert frame.valence == -0.9 and frame.state_changed  # fresh filter, first frame


def test_next_expiry_is_the_least_recently_seen_face_s_deadline():
    t = tracker()
    assert t.next_expiry_ns() is None
    t.update("a", 0, 0.9, now_ns=0)
    t.update("b", 0, 0.9, now_ns=1 * SEC)
    assert t.next_expiry_ns() == 2 * SEC + 1        # a's: the first time expire() drops it
    assert t.expire(t.next_expiry_ns() - 1) == []
    t.update("a", 0, 0.9, now_ns=int(1.5 * SEC))    # seen again: b is now the oldest
    assert t.next_expiry_ns() == 3 * SEC + 1
    assert [g.face_id for g in t.expire(t.next_expiry_ns())] == ["b"]
    assert t.next_expiry_ns() == int(3.5 * SEC) + 1
    t.forget_all(SHUTDOWN)
    assert t.next_expiry_ns() is None


def test_lazy_expiry_in_update():
    t = tracker()
    t.update("a", 0, 0.9, now_ns=0)
    frame = t.update("a", SEC // 10, -0.9, now_ns=3 * SEC)  # stamp only 0.1 s later
    assert frame.valence == -0.9 and frame.state_changed
    assert t.expired == 1
    # The caller announces the gap before the restarted face's new state.
    assert t.has_gone and t.take_gone() == [GoneFace("a", EXPIRED, POSITIVE, 0.9)]
    assert not t.has_gone and t.take_gone() == []


def test_eviction_bounds_memory_least_recently_seen_first():
    t = tracker(max_faces=3, face_timeout=3600.0)
    for i, face in enumerate(["a", "b", "c"]):
        t.update(face, i, 0.0, now_ns=i)
    t.update("a", 10, 0.0, now_ns=10)          # a is now the most recent
    t.update("d", 11, 0.0, now_ns=11)          # evicts b
    assert sorted(t.face_ids()) == ["a", "c", "d"] and t.evicted == 1
    assert t.take_gone() == [GoneFace("b", EVICTED, NEUTRAL, 0.0)]
    for i in range(1000):
        t.update(f"x{i}", 100 + i, 0.0, now_ns=100 + i)
        assert [g.reason for g in t.take_gone()] == [EVICTED]
    assert len(t) == 3 and t.evicted == 1 + 1000


def test_forget_all_returns_every_face_least_recently_seen_first():
    t = tracker()
    t.update("a", 0, 0.9, now_ns=0)
    t.update("b", 0, -0.9, now_ns=1)
    t.update("a", SEC // 10, 0.9, now_ns=2)
    assert t.forget_all(CLOCK_RESET) == [GoneFace("b", CLOCK_RESET, NEGATIVE, -0.9),
                                         GoneFace("a", CLOCK_RESET, POSITIVE, 0.9)]
    assert len(t) == 0 and t.forget_all(SHUTDOWN) == [] and t.expired == 0
    assert t.update("a", SEC, -0.9, now_ns=3).state_changed, "a restarts at its next frame"


def test_out_of_order_frame_counted_and_valence_unchanged():
    t = tracker()
    t.update("a", 10 * SEC, 0.9, now_ns=0)
    v = t.update("a", 10 * SEC + SEC // 10, -0.9, now_ns=1).valence
    late = t.update("a", 10 * SEC + SEC // 20, 0.9, now_ns=2)
    assert late.valence == v and not late.in_order and not late.state_changed
    assert t.out_of_order == 1
    # The face's clock did not go back: the next in-order frame steps from +0.1 s.
    nxt = t.update("a", 10 * SEC + SEC // 5, 0.9, now_ns=3)
    assert nxt.in_order and nxt.valence > v


def test_reconfigure_applies_and_shrinks():
    t = tracker(max_faces=4, face_timeout=3600.0)
    for i in range(4):
        t.update(f"f{i}", 0, 0.0, now_ns=i)
    t.reconfigure(TrackerConfig(smoothing_time_constant=0.0, face_timeout=3600.0, max_faces=2,
                                thresholds=StateThresholds(0.5, -0.5, 0.0)))
    assert t.face_ids() == ["f2", "f3"]
    assert [(g.face_id, g.reason) for g in t.take_gone()] == [("f0", EVICTED), ("f1", EVICTED)]
    frame = t.update("f3", SEC, 0.4, now_ns=10)
    assert frame.valence == 0.4 and frame.state == NEUTRAL  # no smoothing, new thresholds
