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

Pure module: numpy only (the fallback decoder is any object with rosbags'
``deserialize_cdr(data, typename)``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from valence_ros.cdr.single import decode_replacing
from valence_ros.cdr.strings import StringTable, cut_nul, rclpy_string  # noqa: F401  (rclpy_string: re-export)
from valence_ros.cdr.typenames import EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY

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



def gather_rows(buffer: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """(k, length) uint8 copy of buffer[offsets[i] : offsets[i] + length] for each i."""
    if len(offsets) == 0 or length == 0:
        return np.zeros((len(offsets), length), dtype=np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(buffer, length)
    return windows[offsets]


def _distinct(column: np.ndarray, limit: int = 8) -> tuple[list[Any], np.ndarray]:
    """(distinct values, inverse int array): a few comparison passes when there are
    few distinct values (the usual case: a handful of faces), else np.unique."""
    n = len(column)
    inverse: np.ndarray = np.full(n, -1, dtype=np.int32)
    values: list[Any] = []
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
    undecodable: np.ndarray   # bool (n,), True where the CDR is malformed
    blocks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # first few decode errors



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

    def _walk(self, idx: np.ndarray, rows: np.ndarray, slow: list[np.ndarray]
              ) -> Iterator[tuple[np.ndarray, np.ndarray, dict[Any, Any]]]:
        """Partition rows by layout; yields (idx, rows, fields) per uniform layout."""
        width = rows.shape[1]
        stack: list[tuple[Any, ...]] = [(idx, rows, 0, self.items, {})]
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

    def _strings_of(self, sub: np.ndarray, col: int, length: int) -> np.ndarray:
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

    def _labels_of(self, sub: np.ndarray, fields: dict[Any, Any]) -> np.ndarray:
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

    def _decode_leaf(self, idx: np.ndarray, sub: np.ndarray, fields: dict[Any, Any], out: DecodedBatch) -> None:
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

    def _decode_slow(self, rows: np.ndarray, buffer: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
                     out: DecodedBatch) -> None:
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
                    decoded = (stamp.sec, stamp.nanosec, cut_nul(msg.header.frame_id),
                               cut_nul(msg.face_id), tuple(cut_nul(x) for x in msg.labels),
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
        for count, (idx, rows_values) in by_count.items():
            out.blocks.append((np.asarray(idx, dtype=np.int64),
                               np.stack(rows_values).reshape(len(idx), count)))
