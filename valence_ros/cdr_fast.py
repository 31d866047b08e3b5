"""Vectorised CDR decoding and encoding for the few message types the offline tool handles.

Why this exists: rosbags' ``deserialize_cdr`` builds one Python object per
message (about 4 us each here), which alone would eat the offline tool's
whole budget of 5 us per frame. Messages in a bag almost always share one
byte layout (same frame_id, same face_id length, same labels, same number
of probabilities), so a whole batch can be decoded with a handful of numpy
operations on an (N, L) byte matrix.

Decoding (little-endian CDR, the only encoding ROS 2 produces on x86/ARM):

* rows are grouped by byte length, then the layout is discovered column by
  column: wherever a length or count field differs between rows, the rows
  are partitioned by its value and each partition continues on its own;
* every check rosbags makes (string terminator, sequence bounds, at most 3
  trailing padding bytes) is made here too, plus "no NUL inside a string"
  (such rows go to the per-message decoder);
* strings are decoded as rclpy decodes them (its generated converter calls
  ``PyUnicode_DecodeUTF8(data, strlen(data), "replace")``): cut at the first
  NUL byte, and invalid UTF-8 becomes U+FFFD, so such a frame is processed,
  as the live node does (see :func:`rclpy_string`);
* anything unusual - big-endian data, a tiny layout partition, a failed
  check - goes to the reference decoder, rosbags' ``deserialize_cdr``, one
  message at a time. rosbags rejects invalid UTF-8; for those messages
  ``decode_replacing`` (same checks as rosbags, strings decoded as rclpy
  does) takes over. Only a message that fails the CDR checks themselves is
  reported as undecodable.

Encoding: Valence and ValenceState rows sharing (frame_id, face_id) have one
fixed layout; a template row is tiled and the numeric columns written as
byte views. Output is byte-identical to rosbags' ``serialize_cdr`` (and so to
rclpy's serialize_message).

Pure module: numpy only (the fallback decoder is any object with rosbags'
``deserialize_cdr(data, typename)``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "EMOTION_PROBABILITIES", "FLOAT32_MULTI_ARRAY", "VALENCE", "VALENCE_STATE",
    "DecodedBatch", "BatchDecoder", "StringTable", "decode_replacing", "encode_valence",
    "encode_valence_state", "gather_rows", "rclpy_string", "split_stamp",
]

EMOTION_PROBABILITIES = "valence_ros/msg/EmotionProbabilities"
FLOAT32_MULTI_ARRAY = "std_msgs/msg/Float32MultiArray"
VALENCE = "valence_ros/msg/Valence"
VALENCE_STATE = "valence_ros/msg/ValenceState"

# Partitions smaller than this go to the per-message decoder (the numpy
# calls have a fixed cost of a few microseconds each).
SMALL_PARTITION = 8

# Layout items. Every item here starts 4-byte aligned (a uint32, or a
# length/count prefix), which holds for both supported message types.
_U32 = 0      # a uint32 that does not affect the layout (sec, nanosec, size, ...)
_STRING = 1   # string: uint32 length incl. NUL, bytes, NUL
_STRSEQ = 2   # sequence<string>
_DIMSEQ = 3   # sequence<std_msgs/MultiArrayDimension>
_F32SEQ = 4   # sequence<float32>; always the last item
_END = 5      # marks the end of a string sequence (records its byte range)

_LAYOUTS = {
    EMOTION_PROBABILITIES: (
        (_U32, "sec"), (_U32, "nanosec"), (_STRING, "frame_id"), (_STRING, "face_id"),
        (_STRSEQ, "labels"), (_F32SEQ, "values"),
    ),
    FLOAT32_MULTI_ARRAY: ((_DIMSEQ, "dim"), (_U32, "data_offset"), (_F32SEQ, "values")),
}


def rclpy_string(raw) -> str:
    """A CDR string's bytes (without the terminator) decoded as rclpy does:
    ``PyUnicode_DecodeUTF8(data, strlen(data), "replace")``, i.e. cut at the
    first NUL, invalid UTF-8 -> U+FFFD."""
    raw = bytes(raw)
    cut = raw.find(b"\0")
    return (raw if cut < 0 else raw[:cut]).decode("utf-8", "replace")


def _cut_nul(text: str) -> str:
    """An already decoded string (rosbags keeps NULs) cut as rclpy cuts it.
    (A NUL byte is never part of an invalid UTF-8 sequence, so cutting after
    decoding equals cutting before.)"""
    cut = text.find("\0")
    return text if cut < 0 else text[:cut]


def gather_rows(buffer: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """(k, length) uint8 copy of buffer[offsets[i] : offsets[i] + length] for each i."""
    if len(offsets) == 0 or length == 0:
        return np.zeros((len(offsets), length), dtype=np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(buffer, length)
    return windows[offsets]


def _distinct(column: np.ndarray, limit: int = 8):
    """(distinct values, inverse int array): a few comparison passes when there are
    few distinct values (the usual case: a handful of faces), else np.unique."""
    n = len(column)
    inverse = np.full(n, -1, dtype=np.int32)
    values = []
    start = 0
    while start < n and len(values) < limit:
        value = column[start]
        inverse[column == value] = len(values)
        values.append(value)
        left = np.flatnonzero(inverse[start:] < 0)
        if not len(left):
            return values, inverse
        start += int(left[0])
    uniques, inverse = np.unique(column, return_inverse=True)
    return list(uniques), inverse


def _u32(sub: np.ndarray, col: int) -> np.ndarray:
    return np.ascontiguousarray(sub[:, col:col + 4]).view("<u4")[:, 0]


@dataclass
class DecodedBatch:
    """Decoded fields of a batch of n messages, row-aligned with the input.

    ``face``/``frame`` index ``BatchDecoder.strings``; ``labels`` indexes
    ``BatchDecoder.label_tuples``. ``blocks`` hold the probability values:
    (row indices, float32 (k, m)), every decodable row in exactly one block.
    """

    sec: np.ndarray         # int64 header.stamp.sec (EmotionProbabilities only)
    nanosec: np.ndarray     # int64 header.stamp.nanosec
    face: np.ndarray
    frame: np.ndarray
    labels: np.ndarray
    blocks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    undecodable: np.ndarray | None = None   # bool (n,), True where the CDR is malformed
    errors: list[str] = field(default_factory=list)  # first few decode errors


class StringTable:
    """Interned strings: id <-> text, plus the UTF-8 bytes of each (for encoding)."""

    def __init__(self):
        self.strings: list[str] = []
        self.utf8: list[bytes] = []
        self._ids: dict[str, int] = {}
        self.id("")   # id 0 = ""

    def id(self, text: str) -> int:
        found = self._ids.get(text)
        if found is None:
            found = self._ids[text] = len(self.strings)
            self.strings.append(text)
            self.utf8.append(text.encode())
        return found

    def __len__(self) -> int:
        return len(self.strings)


class BatchDecoder:
    """Decodes batches of raw CDR messages of one type.

    ``typename``: EMOTION_PROBABILITIES or FLOAT32_MULTI_ARRAY.
    ``fallback``: object with ``deserialize_cdr(data, typename)`` (a rosbags
    Typestore that knows the type); used for the unusual rows.
    Strings (frame and face ids, in ``table``, which decoders may share) and
    label tuples (``label_tuples``) are interned across batches, so ids are
    stable for the whole bag.
    """

    def __init__(self, typename: str, fallback: Any, table: StringTable | None = None):
        if typename not in _LAYOUTS:
            raise ValueError(f"no fast decoder for {typename}")
        self.typename = typename
        self.items = _LAYOUTS[typename]
        self.fallback = fallback
        self.table = table if table is not None else StringTable()
        self._bytes_ids: dict[bytes, int] = {}
        self.label_tuples: list[tuple[str, ...]] = []
        self._label_ids: dict[tuple[str, ...], int] = {}
        self._label_bytes_ids: dict[tuple, int] = {}
        self.fast_rows = 0       # statistics: rows decoded by the vectorised path
        self.slow_rows = 0       # rows decoded one at a time by the fallback
        self.empty_string_id = self.string_id("")
        self.empty_labels_id = self.labels_id(())

    @property
    def strings(self) -> list[str]:
        return self.table.strings

    # ------------------------------------------------------------------ interning

    def string_id(self, text: str) -> int:
        return self.table.id(text)

    def labels_id(self, labels: tuple[str, ...]) -> int:
        found = self._label_ids.get(labels)
        if found is None:
            found = self._label_ids[labels] = len(self.label_tuples)
            self.label_tuples.append(labels)
        return found

    def _bytes_id(self, raw: bytes) -> int:
        """Id of a string's bytes, decoded as rclpy does (see rclpy_string)."""
        found = self._bytes_ids.get(raw)
        if found is None:
            found = self._bytes_ids[raw] = self.string_id(rclpy_string(raw))
        return found

    # ------------------------------------------------------------------ decoding

    def decode(self, buffer: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> DecodedBatch:
        """Decode the n messages buffer[offsets[i]: offsets[i] + lengths[i]]."""
        n = len(offsets)
        out = DecodedBatch(
            sec=np.zeros(n, dtype=np.int64),
            nanosec=np.zeros(n, dtype=np.int64),
            face=np.full(n, self.empty_string_id, dtype=np.int32),
            frame=np.full(n, self.empty_string_id, dtype=np.int32),
            labels=np.full(n, self.empty_labels_id, dtype=np.int32),
            undecodable=np.zeros(n, dtype=bool),
        )
        if n == 0:
            return out
        slow: list[np.ndarray] = []
        unique_lengths = np.unique(lengths)
        for length in unique_lengths.tolist():
            idx = np.arange(n) if len(unique_lengths) == 1 else np.flatnonzero(lengths == length)
            if length < 4 + 4 or len(idx) < SMALL_PARTITION:
                slow.append(idx)
                continue
            rows = gather_rows(buffer, offsets[idx], length)
            le = (rows[:, 0] == 0) & (rows[:, 1] == 1)
            if not le.all():
                slow.append(idx[~le])
                idx, rows = idx[le], rows[le]
            for leaf_idx, sub, fields in self._walk(idx, rows, slow):
                self._decode_leaf(leaf_idx, sub, fields, out)
        if slow:
            self._decode_slow(np.concatenate(slow), buffer, offsets, lengths, out)
        return out

    def _walk(self, idx, rows, slow):
        """Partition rows by layout; yields (idx, rows, fields) per uniform layout."""
        width = rows.shape[1]
        stack = [(idx, rows, 0, self.items, {})]
        while stack:
            idx, sub, pos, items, fields = stack.pop()
            if len(idx) < SMALL_PARTITION:
                slow.append(idx)
                continue
            done = True
            while items:
                kind, name = items[0]
                if kind == _END:
                    start = fields.pop(("start", name))
                    fields[name] = (start, 4 + pos, fields.pop(("count", name)))
                    items = items[1:]
                    continue
                pos = (pos + 3) & -4
                col = 4 + pos
                if col + 4 > width:
                    slow.append(idx)
                    done = False
                    break
                if kind == _U32:
                    pos += 4
                    items = items[1:]
                    continue
                values = _u32(sub, col)
                first = values[0]
                if (values != first).any():
                    for value in np.unique(values):
                        mask = values == value
                        stack.append((idx[mask], sub[mask], pos, items, dict(fields)))
                    done = False
                    break
                count = int(first)
                if kind == _STRING:
                    end = col + 4 + count
                    if count < 1 or end > width:
                        slow.append(idx)
                        done = False
                        break
                    good = sub[:, end - 1] == 0
                    if count > 1:
                        good &= sub[:, col + 4:end - 1].all(axis=1)
                    if not good.all():
                        slow.append(idx[~good])
                        stack.append((idx[good], sub[good], pos, items, dict(fields)))
                        done = False
                        break
                    fields[name] = (col + 4, count - 1)
                    pos += 4 + count
                    items = items[1:]
                elif kind == _STRSEQ:
                    if col + 4 + 5 * count > width:
                        slow.append(idx)
                        done = False
                        break
                    fields[("start", name)] = col
                    fields[("count", name)] = count
                    pos += 4
                    items = tuple((_STRING, (name, j)) for j in range(count)) + ((_END, name),) + items[1:]
                elif kind == _DIMSEQ:
                    if col + 4 + 12 * count > width:
                        slow.append(idx)
                        done = False
                        break
                    pos += 4
                    items = tuple(
                        item for j in range(count)
                        for item in ((_STRING, ("dim", j)), (_U32, None), (_U32, None))
                    ) + items[1:]
                else:  # _F32SEQ, the last item
                    end = col + 4 + 4 * count
                    if not end <= width <= end + 3:
                        slow.append(idx)
                        done = False
                        break
                    fields[name] = (col + 4, count)
                    items = ()
            if done:
                yield idx, sub, fields

    def _strings_of(self, sub, col, length):
        """Per-row string ids (int32 (k,)) of a fixed-position string field."""
        k = len(sub)
        if length == 0:
            return np.full(k, self.empty_string_id, dtype=np.int32)
        column = np.ascontiguousarray(sub[:, col:col + length]).view(f"S{length}")[:, 0]
        # No NUL inside the field (checked by _walk), so 'S' values are exact.
        first = column[0]
        if (column == first).all():
            return np.full(k, self._bytes_id(bytes(first)), dtype=np.int32)
        uniques, inverse = _distinct(column)
        table = np.array([self._bytes_id(bytes(raw)) for raw in uniques], dtype=np.int32)
        return table[inverse]

    def _labels_of(self, sub, fields):
        """Per-row label-tuple ids (int32 (k,)); texts decoded as in _bytes_id.

        Keyed on the label texts only: padding bytes between the strings are
        not part of the key (rclpy/Fast CDR leaves them uninitialised).
        """
        _, _, count = fields["labels"]
        k = len(sub)
        if count == 0:
            return np.full(k, self.empty_labels_id, dtype=np.int32)
        spans = [fields[("labels", i)] for i in range(count)]
        lengths = tuple(n for _, n in spans)
        total = sum(lengths)
        if total:
            columns = np.concatenate([np.arange(c, c + n) for c, n in spans])
            # no NUL inside the strings (checked by _walk): 'S' values are exact
            texts = np.ascontiguousarray(sub[:, columns]).view(f"S{total}")[:, 0]
            first = texts[0]
            if (texts == first).all():
                uniques, inverse = [bytes(first)], None
            else:
                uniques, inverse = _distinct(texts)
                uniques = [bytes(u) for u in uniques]
        else:
            uniques, inverse = [b""], None
        table = np.empty(len(uniques), dtype=np.int32)
        for j, raw in enumerate(uniques):
            found = self._label_bytes_ids.get((lengths, raw))
            if found is None:
                labels, at = [], 0
                for n in lengths:
                    labels.append(rclpy_string(raw[at:at + n]))
                    at += n
                found = self._label_bytes_ids[(lengths, raw)] = self.labels_id(tuple(labels))
            table[j] = found
        if inverse is None:
            return np.full(k, table[0], dtype=np.int32)
        return table[inverse]

    def _decode_leaf(self, idx, sub, fields, out):
        """Fill `out` for the rows of one uniform layout."""
        if self.typename == EMOTION_PROBABILITIES:
            out.sec[idx] = np.ascontiguousarray(sub[:, 4:8]).view("<i4")[:, 0]
            out.nanosec[idx] = np.ascontiguousarray(sub[:, 8:12]).view("<u4")[:, 0]
            out.frame[idx] = self._strings_of(sub, *fields["frame_id"])
            out.face[idx] = self._strings_of(sub, *fields["face_id"])
            out.labels[idx] = self._labels_of(sub, fields)
        # (Float32MultiArray: the dim labels are not used; any bytes decode, as in rclpy)
        col, count = fields["values"]
        values = np.ascontiguousarray(sub[:, col:col + 4 * count]).view("<f4")
        out.blocks.append((idx, values.reshape(len(idx), count)))
        self.fast_rows += len(idx)

    def _decode_slow(self, rows, buffer, offsets, lengths, out):
        """Reference decoder (rosbags) for the unusual rows; groups values by length."""
        rows = np.sort(rows)
        by_count: dict[int, tuple[list[int], list[np.ndarray]]] = {}
        typename = self.typename
        deserialize = self.fallback.deserialize_cdr
        for i in rows.tolist():
            start = int(offsets[i])
            data = buffer[start:start + int(lengths[i])].tobytes()
            try:
                msg = deserialize(data, typename)
            except Exception as error:  # rosbags raises SerdeError (and a few others)
                decoded = None
                if isinstance(error, UnicodeDecodeError) or isinstance(error.__cause__, UnicodeDecodeError):
                    try:   # rosbags rejects invalid UTF-8; rclpy decodes it with U+FFFD
                        decoded = decode_replacing(data, typename)
                    except (ValueError, struct.error):
                        pass
                if decoded is None:
                    out.undecodable[i] = True
                    if len(out.errors) < 3:
                        out.errors.append(str(error))
                    continue
            else:
                if typename == EMOTION_PROBABILITIES:
                    stamp = msg.header.stamp
                    # rosbags keeps embedded NULs; rclpy cuts the string there
                    decoded = (stamp.sec, stamp.nanosec, _cut_nul(msg.header.frame_id),
                               _cut_nul(msg.face_id), tuple(_cut_nul(x) for x in msg.labels),
                               msg.probabilities)
                else:
                    decoded = (0, 0, "", "", (), msg.data)
            sec, nanosec, frame_id, face_id, labels, values = decoded
            if typename == EMOTION_PROBABILITIES:
                out.sec[i] = sec
                out.nanosec[i] = nanosec
                out.frame[i] = self.string_id(frame_id)
                out.face[i] = self.string_id(face_id)
                out.labels[i] = self.labels_id(labels)
            values = np.asarray(values, dtype=np.float32)
            entry = by_count.setdefault(len(values), ([], []))
            entry[0].append(i)
            entry[1].append(values)
            self.slow_rows += 1
        for count, (idx, values) in by_count.items():
            out.blocks.append((np.asarray(idx, dtype=np.int64),
                               np.stack(values).reshape(len(idx), count)))


def decode_replacing(data: bytes, typename: str):
    """One message decoded with exactly rosbags' ``deserialize_cdr`` checks, but with
    strings decoded as rclpy decodes them (cut at the first NUL, invalid
    UTF-8 -> U+FFFD; see :func:`rclpy_string`).

    Returns (sec, nanosec, frame_id, face_id, labels tuple, float32 values);
    the first five are 0/""/() for Float32MultiArray. Raises ValueError or
    struct.error for malformed CDR.
    """
    if typename not in _LAYOUTS:
        raise ValueError(f"no decoder for {typename}")
    if len(data) < 4 or data[:2] not in (b"\x00\x00", b"\x00\x01"):
        raise ValueError("Invalid or unsupported CDR encapsulation.")
    little = data[1] == 1
    raw = memoryview(data)[4:]
    u32 = struct.Struct("<I" if little else ">I").unpack_from
    pos = 0

    def uint32():
        nonlocal pos
        pos = (pos + 3) & -4      # every field here is 4-aligned
        (value,) = u32(raw, pos)
        pos += 4
        return value

    def string():
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

    def count(minimum):       # sequence length; as rosbags' check_sequence
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


# ---------------------------------------------------------------------- encoding


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


def _check_stamps(sec, nanosec) -> None:
    """builtin_interfaces/Time holds sec as int32 and nanosec as uint32: refuse
    (ValueError) values that would wrap, instead of writing a wrong stamp."""
    for name, column, low, high in (("sec", sec, -2**31, 2**31 - 1), ("nanosec", nanosec, 0, 2**32 - 1)):
        column = np.asarray(column)
        bad = (column < low) | (column > high)
        if bad.any():
            raise ValueError(f"header.stamp.{name} {int(column[np.flatnonzero(bad)[0]])} does not fit "
                             f"builtin_interfaces/Time ({name} must be in [{low}, {high}])")


def _encode(sec, nanosec, frame_idx, face_idx, strings_utf8, state_message, a, b, prefix):
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
        pick = (lambda x: x) if mask is None else (lambda x: x[mask])
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


def split_stamp(stamp_ns):
    """(sec, nanosec) int64 arrays of integer-nanosecond stamps (nanosec in [0, 1e9))."""
    stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
    sec = np.floor_divide(stamp_ns, 1_000_000_000)
    return sec, stamp_ns - sec * 1_000_000_000


def encode_valence(sec, nanosec, frame_idx, face_idx, strings_utf8, valence, raw_valence, prefix=0):
    """valence_ros/msg/Valence rows (see _encode for the result).

    ``sec``/``nanosec``: header stamps; ``strings_utf8[i]``: UTF-8 bytes of
    string id i (frame_idx/face_idx index it).
    """
    return _encode(sec, nanosec, frame_idx, face_idx, strings_utf8, False, valence, raw_valence, prefix)


def encode_valence_state(sec, nanosec, frame_idx, face_idx, strings_utf8, state, valence, prefix=0):
    """valence_ros/msg/ValenceState rows (see _encode for the result)."""
    return _encode(sec, nanosec, frame_idx, face_idx, strings_utf8, True, state, valence, prefix)
