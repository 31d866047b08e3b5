"""FaceTracker: one face_id per person across frames, by IoU matching of face boxes.

Each update() matches this frame's boxes to the tracks greedily by IoU (the
highest-overlap pair first, pairs below match_iou never match; with a few faces
per frame greedy equals the optimal assignment in practice and needs no scipy).
A matched box takes its track's id and moves the track; an unmatched box starts
a track with a new id face_1, face_2, ... (a counter: ids are never reused, so a
face that comes back after lost_timeout_s is a new face downstream, and its
valence filter restarts). A track not matched for more than lost_timeout_s
seconds of stamp time is forgotten.

Memory is bounded: at most max_faces_tracked tracks (the least recently seen is
dropped first when a new face needs room), each a few small objects and an id
of at most len("face_") + 20 characters (a 64-bit counter), so the tracker never
holds more than about max_faces_tracked x 400 bytes however many faces come and
go (test/fer/test_face_tracking.py measures it with tracemalloc).

Time is the caller's (image header stamps): a stamp earlier than the last one
(a bag replayed from its start, a camera restarted) forgets every track,
because overlaps measured across a time jump mean nothing.
"""
from __future__ import annotations

import math
from typing import Sequence

from valence_ros.fer.boxes import Box, iou

__all__ = ["FaceTracker", "ID_PREFIX"]

ID_PREFIX = "face_"


class _Track:
    __slots__ = ("box", "last_seen")

    def __init__(self, box: Box, last_seen: float):
        self.box = box
        self.last_seen = last_seen


class FaceTracker:
    """update(boxes, stamp_s) -> [(face_id, box)] for the boxes it tracks, in the boxes' order."""

    def __init__(self, match_iou: float = 0.3, lost_timeout_s: float = 1.0, max_faces_tracked: int = 32):
        if not 0.0 < match_iou <= 1.0:
            raise ValueError(f"match_iou {match_iou!r} must be in (0, 1]")
        if not (math.isfinite(lost_timeout_s) and lost_timeout_s >= 0.0):
            raise ValueError(f"lost_timeout_s {lost_timeout_s!r} must be finite and >= 0")
        if not (isinstance(max_faces_tracked, int) and max_faces_tracked >= 1):
            raise ValueError(f"max_faces_tracked {max_faces_tracked!r} must be an integer >= 1")
        self.match_iou = float(match_iou)
        self.lost_timeout_s = float(lost_timeout_s)
        self.max_faces_tracked = max_faces_tracked
        self._tracks: dict[str, _Track] = {}
        self._next = 1
        self._last_stamp: float | None = None

    def __len__(self) -> int:
        return len(self._tracks)

    @property
    def face_ids(self) -> tuple[str, ...]:
        return tuple(self._tracks)

    def recent_boxes(self, stamp_s: float | None = None) -> list[Box]:
        """The tracks' last boxes, most recently seen first (where to look for them next);
        with stamp_s, only those of tracks that update(..., stamp_s) would still keep."""
        tracks = sorted(self._tracks.values(), key=lambda t: -t.last_seen)
        if stamp_s is not None:
            tracks = [t for t in tracks if 0.0 <= stamp_s - t.last_seen <= self.lost_timeout_s]
        return [track.box for track in tracks]

    def forget_all(self) -> None:
        self._tracks.clear()
        self._last_stamp = None

    def _new_id(self) -> str:
        face_id = f"{ID_PREFIX}{self._next}"
        self._next += 1
        return face_id

    def update(self, boxes: Sequence[Box], stamp_s: float) -> list[tuple[str, Box]]:
        if not math.isfinite(stamp_s):
            raise ValueError(f"stamp {stamp_s!r} is not finite")
        if self._last_stamp is not None and stamp_s < self._last_stamp:
            self._tracks.clear()   # time went back: see the module docstring
        self._last_stamp = stamp_s
        for face_id in [f for f, t in self._tracks.items() if stamp_s - t.last_seen > self.lost_timeout_s]:
            del self._tracks[face_id]
        boxes = [b if isinstance(b, Box) else Box(*(int(v) for v in b)) for b in boxes]
        ids: list[str | None] = [None] * len(boxes)
        track_ids = list(self._tracks)
        if boxes and track_ids:
            # a few boxes x a few dozen tracks: plain Python is as fast as numpy here and allocates nothing lasting
            pairs = sorted(((iou(box, self._tracks[face_id].box), row, col)
                            for row, box in enumerate(boxes) for col, face_id in enumerate(track_ids)),
                           key=lambda pair: (-pair[0], pair[1], pair[2]))
            used_tracks = set()
            for overlap, row, col in pairs:
                if overlap < self.match_iou:
                    break
                if ids[row] is None and col not in used_tracks:
                    ids[row] = track_ids[col]
                    used_tracks.add(col)
        seen_now = {face_id for face_id in ids if face_id is not None}
        for row, box in enumerate(boxes):
            face_id = ids[row]
            if face_id is None:
                if len(self._tracks) >= self.max_faces_tracked:
                    idle = [f for f in self._tracks if f not in seen_now]
                    if not idle:
                        continue   # more faces in one frame than max_faces_tracked: the smallest go untracked
                    del self._tracks[min(idle, key=lambda f: self._tracks[f].last_seen)]
                face_id = ids[row] = self._new_id()
                self._tracks[face_id] = _Track(box, stamp_s)
                seen_now.add(face_id)
            else:
                track = self._tracks[face_id]
                track.box, track.last_seen = box, stamp_s
        return [(face_id, box) for face_id, box in zip(ids, boxes) if face_id is not None]
