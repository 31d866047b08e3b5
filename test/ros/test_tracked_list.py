"""ros.tracked_list (pure, no rclpy): which faces left a ROS4HRI tracked list, bounded memory."""
from __future__ import annotations

import sys

from valence_ros.ros.tracked_list import KEPT_BOUND_BYTES, MAX_KEPT_UNTRACKED, TrackedList


def test_tracked_list_reports_only_faces_that_left():
    tracked = TrackedList()
    assert tracked.update(["a", "b"], ["a", "b", ""]) == []
    assert tracked.update(["b"], ["a", "b", ""]) == ["a"]          # a left; "" never listed
    assert tracked.update(["b", "c"], ["b", "c", "x"]) == []       # x never listed
    assert tracked.update([], ["b", "c"]) == ["b", "c"]
    assert tracked.left == 3 and tracked.lists == 4


# --- issue 22 item 15: what a TrackedList keeps is bounded in bytes ------------------
def _kept_bytes(tracked: TrackedList) -> int:
    ids = tracked.kept_ids()
    return sys.getsizeof(ids) + sum(sys.getsizeof(i) for i in ids)


def test_a_huge_tracked_list_is_not_kept_whole():
    tracked = TrackedList()
    faces = [f"face{i}" for i in range(16)]
    huge = [f"{i:05d}" + "x" * 10_000 for i in range(20_000)]   # 20,000 ids x 10 kB: 200 MB
    assert tracked.update(faces + huge, faces) == []
    assert tracked.ids_refused == 20_000 and tracked.kept_ids() == frozenset(faces)
    # many ids of an allowed length: the tracked faces, then a bounded number of others
    many = [f"{i:06d}" + "é" * 250 for i in range(20_000)]
    assert tracked.update(many + faces[1:], faces) == ["face0"]   # face0 left
    assert faces[1] in tracked.kept_ids()
    assert len(tracked.kept_ids()) == 15 + MAX_KEPT_UNTRACKED
    assert tracked.ids_refused == 20_000 + 20_000 - MAX_KEPT_UNTRACKED
    assert _kept_bytes(tracked) <= KEPT_BOUND_BYTES
    # a tracked face beyond the bound of untracked ones is still seen (kept first)
    assert tracked.update(many + ["face5"], ["face5"]) == []
    assert "face5" in tracked.kept_ids()
