"""Face tracking (valence_ros.fer.face_tracking): one id per person across frames by IoU,
a lost face keeps its id for lost_timeout_s then a new one, bounded memory."""
from __future__ import annotations

import tracemalloc

import pytest

from valence_ros.fer.boxes import Box, iou
from valence_ros.fer.face_tracking import FaceTracker


def test_iou():
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 10, 10)) == 1.0
    assert iou(Box(0, 0, 10, 10), Box(10, 0, 10, 10)) == 0.0
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(Box(0, 0, 0, 10), Box(0, 0, 10, 10)) == 0.0


def test_ids_follow_faces_through_small_motion():
    tracker = FaceTracker(match_iou=0.3, lost_timeout_s=1.0, max_faces_tracked=8)
    left, right = Box(100, 100, 80, 80), Box(400, 120, 90, 90)
    first = tracker.update([left, right], 0.0)
    assert [face_id for face_id, _ in first] == ["face_1", "face_2"]
    for frame in range(1, 60):   # 2 s at 30 Hz, each face drifting 3 px per frame, sizes wobbling
        t = frame / 30
        moved_left = Box(100 + 3 * frame, 100 + (frame % 3), 80 + (frame % 5), 80)
        moved_right = Box(400 - 3 * frame, 120, 90, 90 - (frame % 4))
        # the detector's order changes (biggest first): ids must follow boxes, not positions in the list
        result = dict((box, face_id) for face_id, box in tracker.update([moved_right, moved_left], t))
        assert result == {moved_left: "face_1", moved_right: "face_2"}, frame
    assert len(tracker) == 2


def test_a_lost_face_keeps_its_id_for_the_timeout_then_gets_a_new_one():
    tracker = FaceTracker(match_iou=0.3, lost_timeout_s=1.0, max_faces_tracked=8)
    face = Box(200, 200, 100, 100)
    # stamps are binary fractions, so "exactly the timeout" is exact
    assert tracker.update([face], 10.0) == [("face_1", face)]
    assert tracker.update([], 10.5) == []                          # looked away
    assert tracker.update([face], 10.75) == [("face_1", face)]     # back within 1 s: same person
    assert tracker.update([], 11.0) == []
    assert tracker.update([face], 11.75) == [("face_1", face)]     # exactly the timeout: still kept
    assert tracker.update([], 12.25) == []
    assert tracker.update([face], 12.875) == [("face_2", face)]    # gone 1.125 s > 1 s: a new face
    assert tracker.face_ids == ("face_2",)


def test_a_far_jump_is_a_new_face_and_ids_are_never_reused():
    tracker = FaceTracker(match_iou=0.3, lost_timeout_s=0.5, max_faces_tracked=8)
    assert tracker.update([Box(0, 0, 50, 50)], 0.0)[0][0] == "face_1"
    assert tracker.update([Box(300, 300, 50, 50)], 0.1)[0][0] == "face_2"   # no overlap: someone else
    assert tracker.update([Box(0, 0, 50, 50)], 0.2)[0][0] == "face_1"       # the first came back in time
    tracker.update([], 5.0)
    assert tracker.update([Box(0, 0, 50, 50)], 5.1)[0][0] == "face_3"


def test_time_going_back_forgets_every_face():
    tracker = FaceTracker(match_iou=0.3, lost_timeout_s=10.0, max_faces_tracked=8)
    face = Box(10, 10, 50, 50)
    assert tracker.update([face], 100.0)[0][0] == "face_1"
    assert tracker.update([face], 5.0)[0][0] == "face_2"   # a bag replayed from its start
    with pytest.raises(ValueError):
        tracker.update([face], float("nan"))


def test_two_boxes_never_share_an_id():
    tracker = FaceTracker(match_iou=0.1, lost_timeout_s=1.0, max_faces_tracked=8)
    tracker.update([Box(0, 0, 100, 100)], 0.0)
    result = tracker.update([Box(10, 0, 100, 100), Box(20, 0, 100, 100)], 0.1)   # both overlap face_1
    assert sorted(face_id for face_id, _ in result) == ["face_1", "face_2"]
    assert dict((b, f) for f, b in result)[Box(10, 0, 100, 100)] == "face_1"       # the better overlap wins


def test_memory_is_bounded_with_1000_faces_coming_and_going():
    tracker = FaceTracker(match_iou=0.3, lost_timeout_s=0.5, max_faces_tracked=16)
    for warm in range(50):   # warm up the interpreter's caches so the measurement sees the tracker only
        tracker.update([Box(warm * 60 % 600, 0, 50, 50)], warm * 0.01)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        newest = 0   # the highest id number seen (a set of ids would be the test's own memory)
        stamp = 1.0
        for step in range(1000):
            stamp += 0.1
            # 1000 new people, three visible at a time, each somewhere else (no overlap with old tracks);
            # every 10th step they all look away for longer than the timeout
            boxes = [Box((step * 37 + k * 211) % 1800, (step * 53 + k * 97) % 1000, 40, 40) for k in range(3)]
            if step % 10 == 9:
                boxes, stamp = [], stamp + 1.0
            for face_id, _ in tracker.update(boxes, stamp):
                newest = max(newest, int(face_id[len("face_"):]))
            assert len(tracker) <= 16
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert newest >= 1000   # the ids did come and go
    assert held < 16 * 1024, f"{held} bytes held after 1000 faces"   # ~16 tracks x a few hundred bytes
    assert all(len(face_id) <= len("face_") + 20 for face_id in tracker.face_ids)


def test_more_faces_than_tracks_evicts_the_least_recently_seen():
    tracker = FaceTracker(match_iou=0.3, lost_timeout_s=100.0, max_faces_tracked=2)
    tracker.update([Box(0, 0, 10, 10)], 0.0)      # face_1
    tracker.update([Box(100, 0, 10, 10)], 1.0)    # face_2
    tracker.update([Box(0, 0, 10, 10)], 2.0)      # face_1 seen again
    result = tracker.update([Box(200, 0, 10, 10)], 3.0)   # face_3 needs room: face_2 (oldest) goes
    assert result[0][0] == "face_3" and set(tracker.face_ids) == {"face_1", "face_3"}
    # three faces in one frame with room for two: the third (smallest, last) is not tracked
    result = tracker.update([Box(0, 0, 10, 10), Box(200, 0, 10, 10), Box(400, 0, 8, 8)], 4.0)
    assert [face_id for face_id, _ in result] == ["face_1", "face_3"]


@pytest.mark.parametrize("kwargs", [dict(match_iou=0.0), dict(match_iou=1.5), dict(lost_timeout_s=-1.0),
                                    dict(lost_timeout_s=float("inf")), dict(max_faces_tracked=0)])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        FaceTracker(**{"match_iou": 0.3, "lost_timeout_s": 1.0, "max_faces_tracked": 4, **kwargs})


def test_recent_boxes_are_where_to_look_next():
    tracker = FaceTracker(match_iou=0.3, lost_timeout_s=1.0, max_faces_tracked=8)
    tracker.update([Box(0, 0, 50, 50)], 0.0)
    tracker.update([Box(200, 0, 50, 50)], 0.5)
    assert tracker.recent_boxes() == [Box(200, 0, 50, 50), Box(0, 0, 50, 50)]   # most recent first
    assert tracker.recent_boxes(1.25) == [Box(200, 0, 50, 50)]                  # the other is past its timeout
    assert tracker.recent_boxes(3.0) == []
