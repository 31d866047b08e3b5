"""valence_node's warnings about label lists: unknown labels, missing emotions.

One warning per distinct label list (remembered by hash, so the memory stays a few
kB whatever the lists' size); beyond MAX_WARNED_LABEL_SETS lists (a publisher
cycling names) the warnings are throttled like the node's rejects. The names seen
are kept for /diagnostics, bounded too. No ROS import: `warn` is the node logger's
warning method.
"""
from __future__ import annotations

from typing import Callable

from valence_ros.core.labels import LabelMap, describe_labels
from valence_ros.core.throttle import WarnThrottle

MAX_WARNED_LABEL_SETS = 256
MAX_LISTED_LABELS = 32


class LabelWarnings:
    """Warns once per label list with unknown labels or missing emotions, and collects
    their names (unknown_labels: at most MAX_LISTED_LABELS; missing_emotions: at most
    the 7 canonical names)."""

    def __init__(self, warn: Callable[[str], None], warn_period: float):
        self._warn = warn
        self._throttle = WarnThrottle(warn_period)
        self._warned: set[int] = set()
        self.unknown_labels: set[str] = set()
        self.missing_emotions: set[str] = set()

    def check(self, label_map: LabelMap, origin: str) -> None:
        """One warning per distinct label list for unknown labels / missing emotions."""
        if not (label_map.unknown or label_map.missing):
            return
        if len(self.unknown_labels) < MAX_LISTED_LABELS:  # bounded: publishers may cycle names
            self.unknown_labels.update(label_map.unknown[:MAX_LISTED_LABELS - len(self.unknown_labels)])
        self.missing_emotions.update(label_map.missing)
        fingerprint = hash(label_map.labels)
        if fingerprint in self._warned:
            return
        if len(self._warned) < MAX_WARNED_LABEL_SETS:
            self._warned.add(fingerprint)
        elif self._throttle.due() is None:  # beyond the bound, throttled like rejects
            return
        parts = []
        if label_map.unknown:
            parts.append(f"label(s) {describe_labels(label_map.unknown)} unknown to the model: their "
                         f"probability is dropped and the rest renormalised")
        if label_map.missing:
            parts.append(f"emotion(s) {list(label_map.missing)} missing: they count as 0")
        self._warn(f"{origin} {describe_labels(label_map.labels)}: " + "; ".join(parts))
