"""Vectorised CDR encoding of Valence and ValenceState messages.

Valence and ValenceState rows sharing (frame_id, face_id) have one
fixed layout; a template row is tiled and the numeric columns written as
byte views. Output is byte-identical to rosbags' ``serialize_cdr`` (and so to
rclpy's serialize_message).

Pure module: numpy only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike


def _pad4(n: int) -> int:
    return (n + 3) & -4


def _template(frame: bytes, face: bytes, state_message: bool) -> tuple[np.ndarray, int]:
    """Zeroed row with the fixed bytes of one layout, and the offset of the numeric tail."""
    head = bytearray(b"\x00\x01\x00\x00" + bytes(8))
    head += (len(frame) + 1).to_bytes(4, "little") + frame + b"\0"
    head += bytes(_pad4(len(head) - 4) - (len(head) - 4))
    head += (len(face) + 1).to_bytes(4, "little") + face + b"\0"
    tail = len(head)
    if state_message:   # int8 state, pad, float32 valence
        size = 4 + _pad4(tail + 1 - 4) + 4
    else:               # float32 valence, float32 raw_valence
        size = 4 + _pad4(tail - 4) + 8
    row = np.zeros(size, dtype=np.uint8)
    row[:tail] = np.frombuffer(bytes(head), dtype=np.uint8)
    return row, tail


def _check_stamps(sec: np.ndarray, nanosec: np.ndarray) -> None:
    """builtin_interfaces/Time holds sec as int32 and nanosec as uint32: refuse
    (ValueError) values that would wrap, instead of writing a wrong stamp."""
    for name, column, low, high in (("sec", sec, -2**31, 2**31 - 1), ("nanosec", nanosec, 0, 2**32 - 1)):
        column = np.asarray(column)
        bad = (column < low) | (column > high)
        if bad.any():
            raise ValueError(f"header.stamp.{name} {int(column[np.flatnonzero(bad)[0]])} does not fit "
                             f"builtin_interfaces/Time ({name} must be in [{low}, {high}])")


def _encode(sec: np.ndarray, nanosec: np.ndarray, frame_idx: ArrayLike, face_idx: ArrayLike,
            strings_utf8: Sequence[bytes], state_message: bool, a: ArrayLike, b: ArrayLike,
            prefix: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of CDR (each preceded by `prefix` zero bytes), concatenated in row order.

    Returns (buffer uint8, row offsets int64, row sizes int64); the payload of
    row i is buffer[offsets[i] + prefix : offsets[i] + sizes[i]].
    """
    n = len(sec)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint8), empty, empty
    _check_stamps(sec, nanosec)
    frame_idx = np.asarray(frame_idx, dtype=np.int64)
    face_idx = np.asarray(face_idx, dtype=np.int64)
    key = frame_idx * (int(face_idx.max()) + 1) + face_idx
    first = key[0]
    if (key == first).all():
        groups = [(None, int(frame_idx[0]), int(face_idx[0]))]
    else:
        uniques, first_rows = np.unique(key, return_index=True)
        groups = [(key == u, int(frame_idx[r]), int(face_idx[r])) for u, r in zip(uniques, first_rows)]
    sizes = np.empty(n, dtype=np.int64)
    built = []
    for mask, fr, fa in groups:
        row, tail = _template(strings_utf8[fr], strings_utf8[fa], state_message)
        if prefix:
            row = np.concatenate([np.zeros(prefix, dtype=np.uint8), row])
        p = prefix
        k = n if mask is None else int(mask.sum())
        block = np.tile(row, (k, 1))
        pick = (lambda x: x) if mask is None else (lambda x, mask=mask: x[mask])
        block[:, p + 4:p + 8] = pick(sec).astype("<i4").view(np.uint8).reshape(k, 4)
        block[:, p + 8:p + 12] = pick(nanosec).astype("<u4").view(np.uint8).reshape(k, 4)
        if state_message:
            block[:, p + tail] = pick(a).astype(np.int8).view(np.uint8)
            at = p + 4 + _pad4(tail + 1 - 4)
            block[:, at:at + 4] = pick(b).astype("<f4").view(np.uint8).reshape(k, 4)
        else:
            at = p + 4 + _pad4(tail - 4)
            block[:, at:at + 4] = pick(a).astype("<f4").view(np.uint8).reshape(k, 4)
            block[:, at + 4:at + 8] = pick(b).astype("<f4").view(np.uint8).reshape(k, 4)
        if mask is None:
            sizes[:] = block.shape[1]
        else:
            sizes[mask] = block.shape[1]
        built.append((mask, block))
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    if len(built) == 1:
        return built[0][1].reshape(-1), offsets, sizes
    total = int(offsets[-1] + sizes[-1])
    buffer = np.zeros(total, dtype=np.uint8)
    for mask, block in built:
        width = block.shape[1]
        windows = np.lib.stride_tricks.as_strided(buffer, shape=(total - width + 1, width), strides=(1, 1))
        windows[offsets[mask]] = block
    return buffer, offsets, sizes


def split_stamp(stamp_ns: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(sec, nanosec) int64 arrays of integer-nanosecond stamps (nanosec in [0, 1e9))."""
    stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
    sec = np.floor_divide(stamp_ns, 1_000_000_000)
    return sec, stamp_ns - sec * 1_000_000_000


def encode_valence(sec: np.ndarray, nanosec: np.ndarray, frame_idx: ArrayLike, face_idx: ArrayLike,
                   strings_utf8: Sequence[bytes], valence: ArrayLike, raw_valence: ArrayLike,
                   prefix: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """valence_ros/msg/Valence rows (see _encode for the result).

    ``sec``/``nanosec``: header stamps; ``strings_utf8[i]``: UTF-8 bytes of
    string id i (frame_idx/face_idx index it).
    """
    return _encode(sec, nanosec, frame_idx, face_idx, strings_utf8, False, valence, raw_valence, prefix)


def encode_valence_state(sec: np.ndarray, nanosec: np.ndarray, frame_idx: ArrayLike, face_idx: ArrayLike,
                         strings_utf8: Sequence[bytes], state: ArrayLike, valence: ArrayLike,
                         prefix: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """valence_ros/msg/ValenceState rows (see _encode for the result)."""
    return _encode(sec, nanosec, frame_idx, face_idx, strings_utf8, True, state, valence, prefix)
