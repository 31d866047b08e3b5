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


# Bounds on one label list (issue 11): FER models name 7-8 classes in a few
# characters. A list beyond them is refused with a reason and never cached, so the
# label cache holds at most LabelMapCache.MAX_ENTRIES lists of at most MAX_LABELS
# labels of at most MAX_LABEL_LENGTH characters (see LABEL_CACHE_BOUND_BYTES), and
# every message about labels shows a bounded preview (describe_labels), never a
# publisher's whole list.
MAX_LABELS = 64
MAX_LABEL_LENGTH = 64  # characters
_PREVIEW_LABELS = 10
_PREVIEW_LENGTH = 24


class LabelError(ValueError):
    """A label list that cannot be mapped onto the canonical emotions."""


def describe_labels(labels: Sequence) -> str:
    """A bounded, printable preview of a label list: at most 10 labels of at most 24
    characters each (~400 characters), with how many were left out."""
    shown = []
    for label in list(labels[:_PREVIEW_LABELS]):
        text = label if isinstance(label, str) else repr(label)
        shown.append(repr(text[:_PREVIEW_LENGTH] + "...") if len(text) > _PREVIEW_LENGTH else repr(text))
    more = f", ... (+{len(labels) - _PREVIEW_LABELS} more)" if len(labels) > _PREVIEW_LABELS else ""
    return "[" + ", ".join(shown) + more + "]"


def check_label_bounds(labels: Sequence) -> None:
    """LabelError unless the list has at most MAX_LABELS labels of at most
    MAX_LABEL_LENGTH characters each."""
    if len(labels) > MAX_LABELS:
        raise LabelError(f"{len(labels)} labels {describe_labels(labels)}; at most {MAX_LABELS} are accepted")
    for position, label in enumerate(labels):
        if isinstance(label, str) and len(label) > MAX_LABEL_LENGTH:
            raise LabelError(f"label at position {position} has {len(label)} characters "
                             f"({describe_labels([label])[1:-1]}); at most {MAX_LABEL_LENGTH} are accepted")


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
    check_label_bounds(labels)
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
            f"none of the labels {describe_labels(labels)} is a known emotion "
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

    Bounded in entries and in bytes: a publisher cycling through label lists
    cannot grow it without limit (MAX_ENTRIES, then it starts over), and a list
    beyond MAX_LABELS / MAX_LABEL_LENGTH is refused uncached. Unresolvable label
    lists within the bounds are cached too, as their LabelError.
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
        if len(labels) > MAX_LABELS:  # before building a key from a hostile list
            check_label_bounds(labels)
        key = tuple(labels)
        found = self._maps.get(key)
        if found is None:
            check_label_bounds(key)  # refused here is never cached
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


# What LabelMapCache can hold at most, in bytes (CPython 3.11, 64-bit): MAX_ENTRIES
# keys of MAX_LABELS str objects of MAX_LABEL_LENGTH characters at up to 4 bytes
# each (+ 80 bytes of object header), the key tuples, and per entry a LabelMap with
# its two index arrays and an itemgetter (~2 KB). test_labels checks it against
# tracemalloc for a cache filled with the largest lists allowed.
LABEL_CACHE_BOUND_BYTES = LabelMapCache.MAX_ENTRIES * (
    MAX_LABELS * (MAX_LABEL_LENGTH * 4 + 80) + (56 + 8 * MAX_LABELS) + 2048)
