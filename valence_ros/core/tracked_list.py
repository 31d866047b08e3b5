"""Which faces left a tracked-faces list (ROS4HRI /humans/faces/tracked, IdsList).

A face that was in the previous list and is missing from the new one has left
the scene: the node forgets it at once instead of waiting for face_timeout.
Faces never listed (e.g. the empty face_id of a single-face FER node) are left
to face_timeout.
"""
from __future__ import annotations

from typing import Iterable


class TrackedList:
    def __init__(self):
        self._listed: frozenset[str] = frozenset()
        self.lists = 0   # lists received
        self.left = 0    # tracked faces that left a list

    def update(self, ids: Iterable[str], tracked_face_ids: Iterable[str]) -> list[str]:
        """The tracked faces (of `tracked_face_ids`) that were listed last time and are
        not in `ids`; `ids` becomes the list to compare the next one with."""
        listed = frozenset(ids)
        previous, self._listed = self._listed, listed
        self.lists += 1
        left = [f for f in tracked_face_ids if f in previous and f not in listed]
        self.left += len(left)
        return left
