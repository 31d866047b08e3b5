"""Box: a face rectangle in full-image pixels, and the IoU the tracker matches with."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Box", "iou"]


@dataclass(frozen=True, slots=True)
class Box:
    """x, y: top-left corner; w, h: size, all in pixels of the full image."""

    x: int
    y: int
    w: int
    h: int

    def __iter__(self):
        return iter((self.x, self.y, self.w, self.h))

    @property
    def area(self) -> int:
        return max(self.w, 0) * max(self.h, 0)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    iy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0
