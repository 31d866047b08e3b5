"""Which faces left a tracked-faces list (ROS4HRI /humans/faces/tracked, IdsList).

A face that was in the previous list and is missing from the new one has left
the scene: the node forgets it at once instead of waiting for face_timeout.
Faces never listed (e.g. the empty face_id of a single-face FER node) are left
to face_timeout.

Memory is bounded in bytes whatever the lists hold (issue 22 item 15: the whole
last list was kept, 20,000 ids of 10 kB took the node from 111 to 650 MB): an id
longer than MAX_ID_LENGTH cannot be a tracked face's (the node refuses such face_ids)
and is not kept; of the others, every currently tracked face's id is kept, plus at
most MAX_KEPT_UNTRACKED untracked ones (in list order; an untracked face left out
that becomes tracked before the next list falls back to face_timeout). What is not
kept is counted (ids_refused).
"""
from __future__ import annotations

from typing import Iterable

from valence_ros.core.output_contract import MAX_ID_LENGTH

MAX_KEPT_UNTRACKED = 1024  # ids of one list kept beyond the tracked faces (max_faces <= 1024)
# Upper bound of what a TrackedList keeps, in bytes (CPython 64-bit: a str of n
# characters takes at most 4n + 80 bytes; a set slot ~ 3 words, doubled for load).
KEPT_BOUND_BYTES = (1024 + MAX_KEPT_UNTRACKED) * (4 * MAX_ID_LENGTH + 80 + 48)


class TrackedList:
    def __init__(self):
        self._listed: frozenset[str] = frozenset()
        self.lists = 0         # lists received
        self.left = 0          # tracked faces that left a list
        self.ids_refused = 0   # ids not kept: too long, or untracked beyond the bound

    def update(self, ids: Iterable[str], tracked_face_ids: Iterable[str]) -> list[str]:
        """The tracked faces (of `tracked_face_ids`) that were listed last time and are
        not in `ids`; `ids` (bounded, see the module docstring) becomes the list to
        compare the next one with."""
        tracked_ids = list(tracked_face_ids)
        tracked = frozenset(tracked_ids)
        kept: set[str] = set()
        untracked = 0
        for face_id in ids:
            if len(face_id) > MAX_ID_LENGTH:
                self.ids_refused += 1
            elif face_id in tracked:
                kept.add(face_id)
            elif untracked < MAX_KEPT_UNTRACKED:
                if face_id not in kept:
                    kept.add(face_id)
                    untracked += 1
            else:
                self.ids_refused += 1
        previous, self._listed = self._listed, frozenset(kept)
        self.lists += 1
        left = [f for f in tracked_ids if f in previous and f not in kept]
        self.left += len(left)
        return left

    def kept_ids(self) -> frozenset[str]:
        """The ids kept from the last list."""
        return self._listed
