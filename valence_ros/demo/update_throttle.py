"""Which valence lines `make run` prints, so the behaviour tree's reactions stand out.

The node answers every frame (15 lines/s at the demo's rate), which buries the
tree's ``>>> robot reaction`` lines. A line is printed at once when its face's
state or the script's scene changed since that face's last printed line (what a
viewer wants to see); other lines at most ``max_per_second`` in all. Pure logic:
the caller passes the clock reading, so tests need no waiting.
"""
from __future__ import annotations

from typing import Hashable

DEFAULT_LINES_PER_SECOND = 2.0


class UpdateThrottle:
    """Decides per valence update whether to print it; counts what it held back."""

    def __init__(self, max_per_second: float = DEFAULT_LINES_PER_SECOND, print_all: bool = False):
        if not max_per_second > 0:
            raise ValueError(f"max_per_second must be > 0, got {max_per_second!r}")
        self.interval = 1.0 / max_per_second
        self.print_all = print_all
        self.suppressed = 0
        self._last_key: dict[str, Hashable] = {}
        self._last_time: float | None = None

    def should_print(self, now: float, face_id: str, state: int | None, scene: str) -> bool:
        """`now`: a monotonic clock in seconds. True for the first update of a face, for a
        change of its state or of the scene, and otherwise once per interval."""
        key = (state, scene)
        changed = self._last_key.get(face_id, object()) != key
        due = self._last_time is None or now - self._last_time >= self.interval
        if self.print_all or changed or due:
            self._last_key[face_id] = key
            self._last_time = now
            return True
        self.suppressed += 1
        return False
