"""Resolve a FER model's label order onto the canonical emotion order.

FER models disagree on names and order (FER2013 is alphabetical-ish, FER+ adds
contempt, FaceReader uses the card's order). Labels are matched by name,
case-insensitively, through ALIASES. The result is a LabelMap: precomputed
index arrays, so the per-frame path is one gather, never a loop over names.

Policy for labels the model does not know (e.g. contempt): the value is
dropped and the remaining probabilities are renormalised (see preprocessing).
An emotion the input does not provide counts as probability 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Iterable, Sequence

import numpy as np

from valence_ros.core.emotions import EMOTIONS

ALIASES: dict[str, str] = {
    "neutral": "neutral",
    "happy": "happy", "happiness": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "angry": "angry", "anger": "angry",
    "surprised": "surprised", "surprise": "surprised",
    "scared": "scared", "fear": "scared", "fearful": "scared", "afraid": "scared",
    "disgusted": "disgusted", "disgust": "disgusted",
}

# Named label orders of common FER models, usable as `input_labels: [name]`.
LABEL_PRESETS: dict[str, tuple[str, ...]] = {
    # Canonical / Noldus FaceReader export order (the model card's order).
    "facereader": ("Neutral", "Happy", "Sad", "Angry", "Surprised", "Scared", "Disgusted"),
    # FER2013 class order, also used by the `fer` package and deepface.
    "fer2013": ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
    # FER+ (Microsoft FERPlus) 8-class order.
    "ferplus": ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"),
    # HSEmotion (enet_b0_8_*): alphabetical, with contempt.
    "hsemotion": ("Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise"),
    # HSEmotion 7-class models (no contempt).
    "hsemotion7": ("Anger", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise"),
}


class LabelError(ValueError):
    """A label list that cannot be mapped onto the canonical emotions."""


def canonical_name(label: str) -> str | None:
    """Canonical emotion for a label, or None when the model does not know it."""
    return ALIASES.get(label.strip().lower())


@dataclass(frozen=True)
class LabelMap:
    """How one input label order maps onto EMOTIONS.

    `source[k]` is the input position feeding canonical emotion `target[k]`;
    canonical emotions absent from the input stay 0.
    """

    labels: tuple[str, ...]
    source: np.ndarray          # int64 input positions of known labels
    target: np.ndarray          # int64 canonical positions they feed
    unknown: tuple[str, ...]    # input labels dropped (e.g. contempt)
    missing: tuple[str, ...]    # canonical emotions the input lacks
    is_identity: bool           # input already in canonical order and length
    # Per-frame gather: gather(values + [0.0]) -> the 7 canonical values in order
    # (missing emotions read the appended 0.0, needed only when `pads`).
    gather: itemgetter = field(compare=False, repr=False)
    pads: bool = False

    @property
    def input_length(self) -> int:
        return len(self.labels)


def expand_preset(labels: Sequence[str]) -> tuple[str, ...]:
    """A single entry naming a preset (e.g. ["fer2013"]) expands to its labels."""
    if len(labels) == 1 and isinstance(labels[0], str) and labels[0].strip().lower() in LABEL_PRESETS:
        return LABEL_PRESETS[labels[0].strip().lower()]
    return tuple(labels)


def resolve_labels(labels: Iterable[str], allow_preset: bool = False) -> LabelMap:
    """Build the LabelMap for an input label order (empty = canonical order).

    Preset names are a convenience of the `input_labels` parameter only: a
    message's labels name one probability each, so they are never expanded.
    """
    labels = expand_preset(tuple(labels)) if allow_preset else tuple(labels)
    if not labels:
        labels = EMOTIONS
    source, target, unknown = [], [], []
    seen: dict[str, str] = {}
    for position, label in enumerate(labels):
        if not isinstance(label, str):
            raise LabelError(f"label at position {position} is not a string: {label!r}")
        name = canonical_name(label)
        if name is None:
            unknown.append(label)
            continue
        if name in seen:
            raise LabelError(
                f"labels {seen[name]!r} and {label!r} both mean {name!r}; "
                f"each emotion may appear once")
        seen[name] = label
        source.append(position)
        target.append(EMOTIONS.index(name))
    if not source:
        raise LabelError(
            f"none of the labels {list(labels)} is a known emotion "
            f"(known: {sorted(ALIASES)})")
    missing = tuple(e for e in EMOTIONS if e not in seen)
    is_identity = len(labels) == len(EMOTIONS) and source == target == list(range(len(EMOTIONS)))
    pad = len(labels)  # index of the 0.0 appended for missing emotions
    canonical_source = [pad] * len(EMOTIONS)
    for position, canonical in zip(source, target):
        canonical_source[canonical] = position
    return LabelMap(
        labels=tuple(labels),
        source=np.asarray(source, dtype=np.int64),
        target=np.asarray(target, dtype=np.int64),
        unknown=tuple(unknown),
        missing=missing,
        is_identity=is_identity,
        gather=itemgetter(*canonical_source),
        pads=pad in canonical_source,
    )


class LabelMapCache:
    """Memoises resolve_labels per distinct label tuple (messages repeat them).

    Bounded: a publisher cycling through label lists cannot grow it without
    limit. Unresolvable label lists are cached too, as their LabelError.
    """

    MAX_ENTRIES = 64

    def __init__(self, default_labels: Sequence[str] = ()):
        self._maps: dict[tuple[str, ...], LabelMap | LabelError] = {}
        self.default = resolve_labels(default_labels, allow_preset=True)

    def get(self, labels: Sequence[str]) -> LabelMap:
        """LabelMap for a message's labels (empty = the default map).

        Raises LabelError for a list that cannot be mapped.
        """
        if not labels:
            return self.default
        key = tuple(labels)
        found = self._maps.get(key)
        if found is None:
            if len(self._maps) >= self.MAX_ENTRIES:
                self._maps.clear()
            try:
                found = resolve_labels(key)
            except LabelError as error:
                found = error
            self._maps[key] = found
        if isinstance(found, LabelError):
            raise found
        return found

    def __len__(self) -> int:
        return len(self._maps)
