"""ros.label_warnings (pure, no rclpy): one warning per label list, bounded memory."""
from __future__ import annotations

from valence_ros.core.emotions import EMOTIONS
from valence_ros.core.labels import resolve_labels
from valence_ros.ros import label_warnings
from valence_ros.ros.label_warnings import LabelWarnings

CANONICAL = list(EMOTIONS)


def _warnings():
    lines: list[str] = []
    return LabelWarnings(lines.append, warn_period=5.0), lines


def test_a_complete_label_list_gives_no_warning():
    warnings, lines = _warnings()
    warnings.check(resolve_labels(CANONICAL), "message labels")
    assert lines == [] and not warnings.unknown_labels and not warnings.missing_emotions


def test_one_warning_per_distinct_list_naming_unknown_and_missing():
    warnings, lines = _warnings()
    odd = resolve_labels(CANONICAL[:-1] + ["contempt"])
    for _ in range(3):
        warnings.check(odd, "message labels")
    assert len(lines) == 1
    assert lines[0].startswith("message labels ") and "contempt" in lines[0] and CANONICAL[-1] in lines[0]
    assert warnings.unknown_labels == {"contempt"} and warnings.missing_emotions == {CANONICAL[-1]}
    warnings.check(resolve_labels(CANONICAL[:-1] + ["calm"]), "message labels")
    assert len(lines) == 2 and warnings.unknown_labels == {"contempt", "calm"}


def test_names_and_lists_kept_are_bounded():
    warnings, lines = _warnings()
    n = label_warnings.MAX_WARNED_LABEL_SETS + 50
    for i in range(n):
        warnings.check(resolve_labels(CANONICAL + [f"extra{i}"]), "message labels")
    assert len(warnings.unknown_labels) == label_warnings.MAX_LISTED_LABELS
    # beyond the bound of remembered lists, warnings are throttled (one per period)
    assert label_warnings.MAX_WARNED_LABEL_SETS <= len(lines) <= label_warnings.MAX_WARNED_LABEL_SETS + 1
