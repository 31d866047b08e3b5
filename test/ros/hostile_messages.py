"""Seeded generator of hostile EmotionProbabilities messages for the live-node fuzz.

Not a test module (no test_ prefix): test_node_fuzz.py and the soak use it. Each
kind attacks one field the node reads: probability lengths and floats, label lists
(huge, many, long, unicode, duplicates, aliases), face ids, frame ids, stamps. A
share of the messages is valid (random probabilities on a random known label
order), so the fuzz also checks that valid frames keep being answered among them.
"""
from __future__ import annotations

import math
import random
from array import array

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "scared", "disgusted")
ALIASES = ("happiness", "joy", "sadness", "anger", "surprise", "fear", "afraid", "disgust", "Neutral")
FLOATS = (math.nan, math.inf, -math.inf, -0.0, 0.0, -1e-45, 1e-45, 3.4e38, -3.4e38, 1e-38, 2.0, -0.5)
SECS = (-2**31, -1, 0, 1, 2**31 - 1)
NANOSECS = (0, 999_999_999, 1_000_000_000, 2**32 - 1)


def _text(rng: random.Random, length: int) -> str:
    """Unicode from several planes: ASCII, Latin, RTL, CJK, emoji, combining marks
    (no NUL: rclpy refuses it on the publishing side)."""
    ranges = ((0x20, 0x7E), (0xA0, 0x24F), (0x590, 0x6FF), (0x4E00, 0x4FFF), (0x1F300, 0x1F64F),
              (0x300, 0x36F))
    out = []
    for _ in range(length):
        low, high = rng.choice(ranges)
        out.append(chr(rng.randint(low, high)))
    return "".join(out)


def _probabilities(rng: random.Random, n: int) -> list[float]:
    raw = [rng.random() for _ in range(n)]
    total = sum(raw) or 1.0
    return [x / total for x in raw]


class HostileMessages:
    """`make(i)` -> (kind, EmotionProbabilities); kinds in KINDS, chosen at random."""

    KINDS = ("valid", "length", "floats", "many_labels", "long_labels", "unicode_labels",
             "duplicate_labels", "face_id", "frame_id", "stamp")

    def __init__(self, msg_module, seed: int, face_pool: int = 48):
        self._msg = msg_module
        self._rng = random.Random(seed)
        self._faces = [f"face{k}" for k in range(face_pool)]

    def make(self, i: int):
        rng = self._rng
        kind = rng.choice(self.KINDS)
        labels: list[str] = []
        probabilities = _probabilities(rng, 7)
        face_id = rng.choice(self._faces)
        frame_id = "camera"
        sec, nanosec = 1_700_000_000 + i // 30, (i % 30) * 33_000_000
        if kind == "valid":
            labels = rng.choice([[], list(EMOTIONS), rng.sample(EMOTIONS, 7), ["joy", "sadness", "neutral"]])
            probabilities = _probabilities(rng, len(labels) or 7)
        elif kind == "length":
            probabilities = _probabilities(rng, rng.choice((0, 1, 6, 8, 64, 1000, 20_000)))
        elif kind == "floats":
            probabilities = [rng.choice(FLOATS) if rng.random() < 0.5 else p for p in probabilities]
        elif kind == "many_labels":
            n = rng.choice((8, 63, 64, 65, 500, 2000))
            labels = ["happy"] + [f"l{k}_{i}" for k in range(n - 1)]
            probabilities = [1.0] + [0.0] * (n - 1)
        elif kind == "long_labels":
            labels = ["happy", "x" * rng.choice((63, 64, 65, 1000, 20_000)) + str(i)]
            probabilities = [0.5, 0.5]
        elif kind == "unicode_labels":
            labels = [_text(rng, rng.randint(0, 70)) for _ in range(rng.randint(1, 9))]
            if rng.random() < 0.5:
                labels[0] = "happy"
            probabilities = _probabilities(rng, len(labels))
        elif kind == "duplicate_labels":
            labels = rng.choice([["happy", "happy"], ["joy", "happy", "sad"], ["", "", "happy"],
                                 [" happy ", "HAPPY"], ["contempt", "contempt", "sad"]])
            probabilities = _probabilities(rng, len(labels))
        elif kind == "face_id":
            face_id = rng.choice(("", _text(rng, rng.randint(1, 40)), "f" * 256, "f" * 257,
                                  "g" * 100_000, f"new_face_{i}"))
        elif kind == "frame_id":
            frame_id = rng.choice(("", _text(rng, 30), "h" * 257, "h" * 50_000))
        elif kind == "stamp":
            sec, nanosec = rng.choice(SECS), rng.choice(NANOSECS)
        msg = self._msg.EmotionProbabilities()
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        msg.header.frame_id = frame_id
        msg.face_id = face_id
        msg.labels = labels
        msg.probabilities = array("f", probabilities)  # float32 as on the wire; inf/nan kept
        return kind, msg
