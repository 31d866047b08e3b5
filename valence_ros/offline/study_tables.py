"""The study's tables: sessions.csv and episodes.csv (deterministic text), frames.parquet.

Numbers are formatted one way whatever computed them (9 decimals, integers
as integers, an empty cell for "none"), text cells follow the one CSV cell
policy (offline.csv_cells: quoted, formulas neutralised), and rows come in (session, face_id,
stamp) order, so the same inputs and parameters give the same bytes
whatever the number of jobs. frames.parquet is written with pyarrow's
ParquetWriter in row groups of at most ROW_GROUP_ROWS rows: memory holds
one row group, not the study.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE
from valence_ros.offline.csv_cells import csv_bytes, text_cell

__all__ = ["SESSION_COLUMNS", "EPISODE_COLUMNS", "FRAMES_SCHEMA", "ROW_GROUP_ROWS", "session_row",
           "episode_row", "episode_csv", "csv_bytes", "FramesParquet"]

SESSION_COLUMNS = (
    "session", "face_id", "frames", "duration_s", "valence_mean", "valence_min", "valence_max",
    "share_negative", "share_neutral", "share_positive",
    "episodes_negative", "episodes_neutral", "episodes_positive",
    "first_positive_s", "first_negative_s")
EPISODE_COLUMNS = ("session", "face_id", "state", "start_ns", "end_ns", "duration_s")

FRAMES_SCHEMA = pa.schema([
    ("session", pa.dictionary(pa.int32(), pa.string())),   # a factor in R, a category in pandas
    ("face_id", pa.dictionary(pa.int32(), pa.string())),
    ("stamp_ns", pa.int64()),
    ("valence", pa.float32()),
    ("raw_valence", pa.float32()),
    ("state", pa.int8()),
])
ROW_GROUP_ROWS = 1 << 20


def _num(value) -> str:
    return "" if value is None else f"{value:.9f}"


def session_row(session: str, face: dict, episodes) -> list:
    """sessions.csv row: `face` is the input's summary.json face entry, `episodes` its FaceEpisodes."""
    share = face["state_share"]
    counts = episodes.counts()
    return [session, face["face_id"], face["frames"], _num(face["duration_s"]), _num(face["valence_mean"]),
            _num(face["valence_min"]), _num(face["valence_max"]),
            _num(share["NEGATIVE"]), _num(share["NEUTRAL"]), _num(share["POSITIVE"]),
            counts[NEGATIVE], counts[NEUTRAL], counts[POSITIVE],
            _num(episodes.time_to_first_s(POSITIVE)), _num(episodes.time_to_first_s(NEGATIVE))]


def episode_row(session: str, face: str, state: int, start_ns: int, end_ns: int) -> list:
    return [session, face, state, start_ns, end_ns, _num((end_ns - start_ns) * 1e-9)]


EPISODE_CHUNK_ROWS = 65536


def episode_csv(session: str, builder) -> Iterator[bytes]:
    """episodes.csv text of one session's EpisodeBuilder, face by face, in chunks of at most
    EPISODE_CHUNK_ROWS rows: the same bytes as csv_bytes() of its episode_row()s, without
    a Python object per episode (memory stays one chunk)."""
    for face in sorted(builder.faces):
        prefix = f"{text_cell(session)},{text_cell(face)},"
        states, starts, ends = builder.faces[face].sorted_closed()
        for k in range(0, len(states), EPISODE_CHUNK_ROWS):
            part = slice(k, k + EPISODE_CHUNK_ROWS)
            yield "".join(f"{prefix}{s},{a},{b},{(b - a) * 1e-9:.9f}\n" for s, a, b in zip(
                states[part].tolist(), starts[part].tolist(), ends[part].tolist())).encode()


class FramesParquet:
    """frames.parquet: add() (session, face, frames) in table order; close() at the end."""

    def __init__(self, path: Path, row_group_rows: int = ROW_GROUP_ROWS):
        self._writer = pq.ParquetWriter(str(path), FRAMES_SCHEMA, compression="zstd")
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.row_group_rows = row_group_rows
        self.rows = 0

    def add(self, session: str, face: str, frames: pa.RecordBatch) -> None:
        n = frames.num_rows
        zeros = pa.array(np.zeros(n, dtype=np.int32))
        self._pending.append(pa.record_batch(
            [pa.DictionaryArray.from_arrays(zeros, pa.array([session], pa.string())),
             pa.DictionaryArray.from_arrays(zeros, pa.array([face], pa.string())),
             *frames.columns], schema=FRAMES_SCHEMA))
        self._pending_rows += n
        if self._pending_rows >= self.row_group_rows:
            self.flush()

    def flush(self) -> None:
        """Write what is pending (the frames handed to add() may be released after this)."""
        if self._pending:
            table = pa.Table.from_batches(self._pending, schema=FRAMES_SCHEMA)
            self._writer.write_table(table, row_group_size=self.row_group_rows)
            self.rows += self._pending_rows
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self.flush()
        self._writer.close()
