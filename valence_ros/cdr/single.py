"""The per-message reference decoder: rosbags' CDR checks, rclpy's string decoding."""
from __future__ import annotations

import struct

import numpy as np

from valence_ros.cdr.strings import rclpy_string
from valence_ros.cdr.typenames import EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY

_SUPPORTED = (EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY)


def decode_replacing(data: bytes, typename: str
                     ) -> tuple[int, int, str, str, tuple[str, ...], np.ndarray]:
    """One message decoded with exactly rosbags' ``deserialize_cdr`` checks, but with
    strings decoded as rclpy decodes them (cut at the first NUL, invalid
    UTF-8 -> U+FFFD; see :func:`rclpy_string`).

    Returns (sec, nanosec, frame_id, face_id, labels tuple, float32 values);
    the first five are 0/""/() for Float32MultiArray. Raises ValueError or
    struct.error for malformed CDR.
    """
    if typename not in _SUPPORTED:
        raise ValueError(f"no decoder for {typename}")
    if len(data) < 4 or data[:2] not in (b"\x00\x00", b"\x00\x01"):
        raise ValueError("Invalid or unsupported CDR encapsulation.")
    little = data[1] == 1
    raw = memoryview(data)[4:]
    u32 = struct.Struct("<I" if little else ">I").unpack_from
    pos = 0

    def uint32() -> int:
        nonlocal pos
        pos = (pos + 3) & -4      # every field here is 4-aligned
        (value,) = u32(raw, pos)
        pos += 4
        return value

    def string() -> str:
        nonlocal pos
        length = uint32()
        end = pos + length
        if length < 1 or end > len(raw):
            raise ValueError(f"Invalid string length {length} at offset {pos - 4}.")
        if raw[end - 1] != 0:
            raise ValueError(f"Missing string terminator at offset {end - 1}.")
        text = rclpy_string(raw[pos:end - 1])
        pos = end
        return text

    def count(minimum: int) -> int:       # sequence length; as rosbags' check_sequence
        size = uint32()
        if pos + size * minimum > len(raw):
            raise ValueError(f"Invalid sequence length {size} at offset {pos}.")
        return size

    sec = nanosec = 0
    frame_id = face_id = ""
    labels: tuple[str, ...] = ()
    if typename == EMOTION_PROBABILITIES:
        sec = struct.unpack_from("<i" if little else ">i", raw, 0)[0]
        pos = 4
        nanosec = uint32()
        frame_id = string()
        face_id = string()
        labels = tuple(string() for _ in range(count(5)))
    else:  # Float32MultiArray: layout.dim[] (label, size, stride), layout.data_offset
        for _ in range(count(1)):
            string()
            uint32()
            uint32()
        uint32()
    size = count(4)
    values = np.frombuffer(raw, dtype=np.float32, count=size, offset=pos)
    if not little:
        values = values.byteswap()
    pos += 4 * size
    if pos + 4 + 3 < len(data):
        raise ValueError(f"CDR message size mismatch for {typename!r}.")
    return sec, nanosec, frame_id, face_id, labels, values
