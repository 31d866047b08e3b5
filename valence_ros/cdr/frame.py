"""Per-message CDR for the live node: EmotionProbabilities bytes in, Valence bytes out.

Why: rclpy turns each received message into Python objects field by field
(Header, Time, str, list, array) and serialises the Valence it publishes the
same way; together about 25 us per frame here, more than the node's own
computation. A node that subscribes raw (serialised) messages needs only the
stamp, the strings and the floats, and can publish pre-serialised bytes.

Messages from one publisher share a layout: same frame_id, face_id and
labels, so the same lengths and string bytes. The decoder reads the few
length fields with struct, builds a key from the length-prefixed string
bytes (the alignment padding between them is not part of it: Fast CDR leaves
padding uninitialised) and looks the layout up. A new layout is decoded once
by the reference decoder (``single.decode_replacing``: rosbags' CDR checks,
strings decoded as rclpy decodes them) and remembered, together with the
Valence bytes its output needs between stamp and numbers. The bytes a key
covers fix every position and every string, so a message whose key is known
passes the same checks; only the stamp, the padding and the probability
count vary, and the count's bounds are checked on every message.

Output: ``valence_bytes`` is byte-identical to rclpy's serialize_message of
the Valence with the decoded header and face_id, except that padding bytes
are zero here. Pure module: struct and array only.
"""
from __future__ import annotations

import struct
import sys
from array import array
from typing import TYPE_CHECKING

from valence_ros.cdr.single import decode_replacing
from valence_ros.cdr.typenames import EMOTION_PROBABILITIES

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CdrFrameError", "FrameDecoder", "FrameLayout", "valence_bytes"]

MAX_LAYOUTS = 256            # distinct (frame_id, face_id, labels) remembered; bounds memory
# ... and in bytes (issue 11): a layout whose strings (frame_id, face_id, labels) take
# more than this is decoded each time and never remembered, so a publisher cycling
# huge label lists or ids cannot fill the cache with megabytes per entry. Ordinary
# messages take ~100-400 bytes. Worst case held: 256 x (2 KiB key + decoded strings
# <= 8 KiB + Valence ids <= 2 KiB) ~ 3.3 MB.
MAX_LAYOUT_KEY_BYTES = 2048
_LE = b"\x00\x01"            # CDR_LE encapsulation (what ROS 2 writes on x86 and ARM)
_ENCAPSULATION = b"\x00\x01\x00\x00"
_u32 = struct.Struct("<I").unpack_from
_stamp = struct.Struct("<iI")
_two_floats = struct.Struct("<ff").pack
_NATIVE_LE = sys.byteorder == "little"   # array('f', bytes) reads native order


class CdrFrameError(ValueError):
    """The bytes are not a well-formed EmotionProbabilities message."""


def _cdr_string(text: str, position: int) -> bytes:
    """A CDR string starting at `position` (4-aligned), zero-padded to the next 4."""
    raw = text.encode("utf-8")
    end = position + 4 + len(raw) + 1
    return (len(raw) + 1).to_bytes(4, "little") + raw + bytes(1 + (-end & 3))


class FrameLayout:
    """What all messages of one layout share: the decoded strings, and the Valence
    bytes between stamp and numbers (frame_id, face_id, padding)."""

    __slots__ = ("frame_id", "face_id", "labels", "valence_middle")

    def __init__(self, frame_id: str, face_id: str, labels: tuple[str, ...]):
        self.frame_id, self.face_id, self.labels = frame_id, face_id, labels
        frame = _cdr_string(frame_id, 12)
        self.valence_middle = frame + _cdr_string(face_id, 12 + len(frame))


def valence_bytes(layout: FrameLayout, stamp: bytes, valence: float, raw_valence: float) -> bytes:
    """Serialised valence_ros/Valence: header (`stamp`: 8 bytes, sec int32 + nanosec
    uint32, little-endian; frame_id) and face_id from `layout`. Both values must be
    finite and within float32 range (the node clips them to [-1, 1])."""
    return b"".join((_ENCAPSULATION, stamp, layout.valence_middle, _two_floats(valence, raw_valence)))


class FrameDecoder:
    """Decodes serialised EmotionProbabilities messages one at a time."""

    def __init__(self, max_layouts: int = MAX_LAYOUTS):
        self._layouts: dict[bytes, FrameLayout] = {}
        self._max_layouts = max_layouts
        self.misses = 0   # messages that went through the reference decoder

    def __len__(self) -> int:
        return len(self._layouts)

    def decode(self, data: bytes) -> tuple[FrameLayout, bytes, int, int, object]:
        """(layout, stamp bytes, sec, nanosec, probabilities) of one message.

        `probabilities` is an array('f') (as rclpy gives) or, for big-endian
        input, a float32 numpy array. Raises CdrFrameError for malformed CDR."""
        size = len(data)
        try:
            if data[:2] != _LE or not _NATIVE_LE:
                return self._decode_reference(data)
            # header.frame_id, face_id: uint32 length (incl. NUL) + bytes, 4-aligned
            frame_end = 16 + _u32(data, 12)[0]
            face_at = (frame_end + 3) & -4
            face_end = face_at + 4 + _u32(data, face_at)[0]
            labels_at = (face_end + 3) & -4
            n_labels = _u32(data, labels_at)[0]
            at = labels_at + 4
            if n_labels:
                parts = [data[12:frame_end], data[face_at:face_end], data[labels_at:at]]
                for _ in range(n_labels):
                    at = (at + 3) & -4
                    end = at + 4 + _u32(data, at)[0]
                    parts.append(data[at:end])
                    at = end
                key = b"".join(parts)
                at = (at + 3) & -4
            else:
                key = data[12:frame_end] + data[face_at:face_end]
            # A slice cut short by the end of `data` is always followed by a read
            # past the end (struct.error), so a key is never a truncated field.
            values_at = at + 4
            values_end = values_at + 4 * _u32(data, at)[0]
        except struct.error:
            raise CdrFrameError("message truncated inside its length fields") from None
        if not values_end <= size <= values_end + 3:   # at most 3 trailing padding bytes
            raise CdrFrameError(f"message of {size} bytes does not end with its "
                                f"{(values_end - values_at) // 4} probabilities")
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._learn(data, key)
        stamp = data[4:12]
        sec, nanosec = _stamp.unpack(stamp)
        return layout, stamp, sec, nanosec, array("f", data[values_at:values_end])

    def _learn(self, data: bytes, key: bytes) -> FrameLayout:
        """First message of a layout: full reference checks, then remember it."""
        _, _, frame_id, face_id, labels, _ = self._reference(data)
        layout = FrameLayout(frame_id, face_id, labels)
        if len(key) > MAX_LAYOUT_KEY_BYTES:
            return layout           # too big to remember (see MAX_LAYOUT_KEY_BYTES)
        if len(self._layouts) >= self._max_layouts:
            self._layouts.clear()   # publishers cycling through ids: start over, bounded
        self._layouts[key] = layout
        return layout

    def _decode_reference(self, data: bytes) -> tuple[FrameLayout, bytes, int, int, np.ndarray]:
        sec, nanosec, frame_id, face_id, labels, values = self._reference(data)
        return FrameLayout(frame_id, face_id, labels), _stamp.pack(sec, nanosec), sec, nanosec, values

    def _reference(self, data: bytes) -> tuple[int, int, str, str, tuple[str, ...], np.ndarray]:
        self.misses += 1
        try:
            return decode_replacing(bytes(data), EMOTION_PROBABILITIES)
        except (ValueError, struct.error) as error:
            raise CdrFrameError(str(error)) from None
