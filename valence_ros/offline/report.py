"""The analysis's report: valence.csv rows, per-face statistics, the summary table, plot names.

* ``CsvWriter``: valence.csv, built with vectorised numpy formatting (a
  fixed-width byte matrix per batch, NUL padding removed at the end). The
  ``csv`` module or ``np.savetxt`` format one row at a time in Python, which
  at ~2 us per row would take half the tool's time budget.
* ``FaceStats``: per-face running statistics and a bounded, progressively
  decimated series for plotting (memory does not grow with the bag).
* ``summary_table``, ``plot_filename``: the printed table and the PNGs' names
  (offline.face_plot draws them).

The output directory they are written into is offline.output_dir's OutputDir.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from valence_ros.offline.csv_cells import text_cell
from valence_ros.offline.numfmt import ascii_ints, fixed9
from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE, STATE_NAMES

__all__ = ["CSV_COLUMNS", "CsvWriter", "FaceStats", "summary_table", "csv_field", "plot_filename"]

CSV_COLUMNS = ("stamp_ns", "face_id", "valence", "raw_valence", "state")
STATES = (NEGATIVE, NEUTRAL, POSITIVE)


# ---------------------------------------------------------------------- CSV


def padded_bytes(items: list[bytes]) -> np.ndarray:
    """(len(items), longest) uint8 matrix of the byte strings, NUL-padded."""
    out = np.zeros((len(items), max(1, max(map(len, items), default=1))), dtype=np.uint8)
    for i, b in enumerate(items):
        out[i, :len(b)] = np.frombuffer(b, dtype=np.uint8)
    return out


def csv_field(text: str) -> bytes:
    """A text cell of valence.csv (offline.csv_cells: quoted, formulas neutralised), UTF-8."""
    return text_cell(text).encode()


class CsvWriter:
    """Streams valence.csv. Columns: CSV_COLUMNS (+ "topic" when several topics)."""

    def __init__(self, path: Path, strings: list[str], with_topic: bool = False,
                 topic_names: list[str] | None = None):
        self._file = open(path, "wb")
        self._strings = strings          # shared, growing table of face ids
        self._fields: list[bytes] = []   # CSV-escaped face ids, by string id
        self._table = np.zeros((0, 1), dtype=np.uint8)
        self._with_topic = with_topic
        columns = CSV_COLUMNS + (("topic",) if with_topic else ())
        self._file.write((",".join(columns) + "\n").encode())
        if with_topic:
            self._topics = padded_bytes([csv_field(t) for t in topic_names or []])
        self.rows = 0

    def _face_table(self) -> np.ndarray:
        if len(self._fields) < len(self._strings):
            self._fields += [csv_field(s) for s in self._strings[len(self._fields):]]
            self._table = padded_bytes(self._fields)
        return self._table

    def write(self, stamp_ns: np.ndarray, face: np.ndarray, valence: np.ndarray, raw_valence: np.ndarray,
              state: np.ndarray, topic: np.ndarray | None = None) -> None:
        n = len(stamp_ns)
        if n == 0:
            return
        self._file.write(format_rows(stamp_ns, self._face_table()[face], valence, raw_valence, state,
                                     self._topics[topic] if self._with_topic else None))
        self.rows += n

    def close(self) -> None:
        self._file.close()


_STATE_TEXT = padded_bytes([str(state).encode() for state in STATES])  # row = state + 1


def format_rows(stamp_ns: np.ndarray, faces: np.ndarray, valence: np.ndarray, raw_valence: np.ndarray,
                state: np.ndarray, topics: np.ndarray | None = None) -> bytes:
    """CSV text of n rows; `faces` (and `topics`) are (n, w) NUL-padded byte matrices."""
    n = len(stamp_ns)
    v = np.asarray(valence, dtype=np.float64)
    r = np.asarray(raw_valence, dtype=np.float64)
    if not (np.all(np.abs(v) <= 9.0) and np.all(np.abs(r) <= 9.0)):  # NaN too
        return _format_rows_slow(stamp_ns, faces, v, r, state, topics)
    parts = [ascii_ints(stamp_ns, 20), faces, fixed9(v), fixed9(r), _STATE_TEXT[np.asarray(state) + 1]]
    if topics is not None:
        parts.append(topics)
    width = sum(p.shape[1] for p in parts) + len(parts)
    out = np.zeros((n, width), dtype=np.uint8)
    col = 0
    for part in parts:
        out[:, col:col + part.shape[1]] = part
        col += part.shape[1]
        out[:, col] = ord(",")
        col += 1
    out[:, -1] = ord("\n")
    return out.tobytes().replace(b"\0", b"")


def _format_rows_slow(stamp_ns, faces, v, r, state, topics):
    lines = []
    for i in range(len(stamp_ns)):
        row = [str(int(stamp_ns[i])), faces[i].tobytes().replace(b"\0", b"").decode(),
               f"{v[i]:.9f}", f"{r[i]:.9f}", str(int(state[i]))]
        if topics is not None:
            row.append(topics[i].tobytes().replace(b"\0", b"").decode())
        lines.append(",".join(row) + "\n")
    return "".join(lines).encode()


# ---------------------------------------------------------------------- statistics


class _Series:
    """Bounded plot series: buckets of `stride` frames, stride doubling as it grows."""

    MAX_BUCKETS = 2000

    def __init__(self):
        self.stride = 1
        self.parts: list[np.ndarray] = []     # (k, 6) buckets: t, mean, min, max, raw mean, state
        self.size = 0
        self.pending = np.zeros((0, 4))       # raw points not yet filling a bucket: t, v, raw, state

    def add(self, t, v, raw, state) -> None:
        points = np.concatenate([self.pending, np.stack([t, v, raw, state], axis=1)])
        s = self.stride
        full = (len(points) // s) * s
        if full:
            p = points[:full].reshape(-1, s, 4)
            buckets = np.stack([p[:, 0, 0], p[:, :, 1].mean(axis=1), p[:, :, 1].min(axis=1),
                                p[:, :, 1].max(axis=1), p[:, :, 2].mean(axis=1), p[:, -1, 3]], axis=1)
            self.parts.append(buckets)
            self.size += len(buckets)
        self.pending = points[full:]
        if self.size > 2 * self.MAX_BUCKETS:
            self._halve()

    def _halve(self) -> None:
        b = np.concatenate(self.parts)
        even = (len(b) // 2) * 2
        a, c = b[0:even:2], b[1:even:2]
        merged = np.stack([a[:, 0], (a[:, 1] + c[:, 1]) / 2, np.minimum(a[:, 2], c[:, 2]),
                           np.maximum(a[:, 3], c[:, 3]), (a[:, 4] + c[:, 4]) / 2, c[:, 5]], axis=1)
        self.parts = [merged, b[even:]] if even < len(b) else [merged]
        self.size = sum(len(p) for p in self.parts)
        self.stride *= 2

    def buckets(self) -> np.ndarray:
        b = list(self.parts)
        if len(self.pending):
            p = self.pending
            b.append(np.array([[p[0, 0], p[:, 1].mean(), p[:, 1].min(), p[:, 1].max(),
                                p[:, 2].mean(), p[-1, 3]]]))
        return np.concatenate(b) if b else np.zeros((0, 6))


class FaceStats:
    """Running statistics of one face's published frames (one topic)."""

    MAX_GAPS = 10_000   # face losses kept for the plot (16 bytes each); more are counted

    def __init__(self, topic: str, face_id: str, gap_ns: int):
        self.topic = topic
        self.face_id = face_id
        self.gap_ns = gap_ns   # intervals longer than this (face_timeout) are not counted as time in a state
        self.frames = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.first_ns: int | None = None
        self.min_ns: Any = None   # int once a frame was added
        self.max_ns: Any = None
        self.state_ns = np.zeros(3, dtype=np.int64)
        self.state_frames = np.zeros(3, dtype=np.int64)
        self.changes = 0
        self._last: Any = None      # (stamp_ns, state) of the previous frame
        self.series = _Series()
        self.gaps: list[tuple[float, float]] = []   # (last frame before, first after) in series seconds
        self.gaps_not_kept = 0

    def add(self, stamp_ns: np.ndarray, valence: np.ndarray, raw_valence: np.ndarray, state: np.ndarray,
            changed: np.ndarray) -> None:
        n = len(stamp_ns)
        if n == 0:
            return
        v = valence.astype(np.float64)
        self.frames += n
        self.sum += float(v.sum())
        self.min = min(self.min, float(v.min()))
        self.max = max(self.max, float(v.max()))
        if self.first_ns is None:
            self.first_ns = int(stamp_ns[0])
            self.min_ns = self.max_ns = int(stamp_ns[0])
        self.min_ns = min(self.min_ns, int(stamp_ns.min()))
        self.max_ns = max(self.max_ns, int(stamp_ns.max()))
        states = state.astype(np.int64) + 1
        self.state_frames += np.bincount(states, minlength=3)
        if self._last is not None:
            t = np.concatenate([[self._last[0]], stamp_ns])
            s = np.concatenate([[self._last[1]], states])
        else:
            t, s = stamp_ns, states
        dt = np.diff(t)
        counted = (dt > 0) & (dt <= self.gap_ns)
        lost = np.flatnonzero(dt > self.gap_ns)   # the face was gone: drawn as a gap
        room = max(0, self.MAX_GAPS - len(self.gaps))
        for i in lost[:room]:
            self.gaps.append(((int(t[i]) - self.first_ns) * 1e-9, (int(t[i + 1]) - self.first_ns) * 1e-9))
        self.gaps_not_kept += max(0, len(lost) - room)
        self.state_ns += np.bincount(s[:-1][counted], weights=dt[counted], minlength=3).astype(np.int64)
        self._last = (int(stamp_ns[-1]), int(states[-1]))
        self.changes += int(changed.sum())
        self.series.add((stamp_ns - self.first_ns) * 1e-9, v, raw_valence.astype(np.float64),
                        state.astype(np.float64))

    def summary(self) -> dict:
        total = int(self.state_ns.sum())
        if total > 0:
            shares = self.state_ns / total
        else:   # one frame, or all frames with one stamp: count frames instead
            shares = self.state_frames / max(1, self.frames)
        return {
            "topic": self.topic,
            "face_id": self.face_id,
            "frames": self.frames,
            "duration_s": round((self.max_ns - self.min_ns) * 1e-9, 9) if self.frames else 0.0,
            "first_stamp_ns": self.min_ns,
            "last_stamp_ns": self.max_ns,
            "valence_mean": self.sum / self.frames if self.frames else None,
            "valence_min": self.min if self.frames else None,
            "valence_max": self.max if self.frames else None,
            "state_share": {STATE_NAMES[s]: float(shares[s + 1]) for s in STATES},
            "state_messages": self.changes,   # ValenceState messages (first frame + changes)
        }


def summary_table(faces: list[dict], with_topic: bool = False) -> str:
    """The per-face summary as an aligned text table."""
    header = (["topic"] if with_topic else []) + [
        "face_id", "frames", "duration_s", "mean", "min", "max", "negative", "neutral", "positive"]
    rows = []
    for f in faces:
        share = f["state_share"]
        row = [f["topic"]] if with_topic else []
        row += [repr(f["face_id"]) if f["face_id"] == "" else f["face_id"], str(f["frames"]),
                f"{f['duration_s']:.1f}",
                f"{f['valence_mean']:+.3f}", f"{f['valence_min']:+.3f}", f"{f['valence_max']:+.3f}",
                f"{100 * share['NEGATIVE']:.1f}%", f"{100 * share['NEUTRAL']:.1f}%",
                f"{100 * share['POSITIVE']:.1f}%"]
        rows.append(row)
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    text_cols = 2 if with_topic else 1
    lines = []
    for row in [header] + rows:
        cells = [c.ljust(w) if i < text_cols else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------- plots


def plot_filename(topic: str, face_id: str, taken: set[str], with_topic: bool) -> str:
    """A safe, unique PNG file name for a face."""
    def clean(text):
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "face"
    base = "valence_" + (clean(topic) + "__" if with_topic else "") + (clean(face_id) if face_id else "noid")
    name, k = base + ".png", 2
    while name in taken:
        name, k = f"{base}_{k}.png", k + 1
    taken.add(name)
    return name
