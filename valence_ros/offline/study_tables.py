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
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE
from valence_ros.offline.csv_cells import csv_bytes, text_cell

if TYPE_CHECKING:
    from valence_ros.offline.episodes import EpisodeBuilder, FaceEpisodes

__all__ = ["SESSION_COLUMNS", "EPISODE_COLUMNS", "FRAMES_SCHEMA", "ROW_GROUP_ROWS", "session_row",
           "episode_row", "episode_csv", "csv_bytes", "FramesParquet", "frames_schema", "with_design",
           "number_cell"]

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


def number_cell(value: float | None) -> str:
    """A number as every study table writes it (9 decimals; None: an empty cell)."""
    return _num(value)


def session_row(session: str, face: dict, episodes: FaceEpisodes) -> list:
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


def with_design(columns: Sequence[str], design: Sequence[str]) -> tuple:
    """A table's columns with a study design's columns (offline.design) after "session"."""
    return (columns[0], *design, *columns[1:])


EPISODE_CHUNK_ROWS = 65536


def episode_csv(session: str, builder: EpisodeBuilder, design_cells: tuple[str, ...] = ()) -> Iterator[bytes]:
    """episodes.csv text of one session's EpisodeBuilder, face by face, in chunks of at most
    EPISODE_CHUNK_ROWS rows: the same bytes as csv_bytes() of its episode_row()s (with a
    study design's cells after the session, as with_design() orders the columns), without
    a Python object per episode (memory stays one chunk)."""
    lead = "".join(f"{text_cell(c)}," for c in (session, *design_cells))
    for face in sorted(builder.faces):
        prefix = f"{lead}{text_cell(face)},"
        states, starts, ends = builder.faces[face].sorted_closed()
        for k in range(0, len(states), EPISODE_CHUNK_ROWS):
            part = slice(k, k + EPISODE_CHUNK_ROWS)
            yield "".join(f"{prefix}{s},{a},{b},{(b - a) * 1e-9:.9f}\n" for s, a, b in zip(
                states[part].tolist(), starts[part].tolist(), ends[part].tolist())).encode()


def frames_schema(design_columns: Sequence[str] = ()) -> pa.Schema:
    """FRAMES_SCHEMA with a study design's columns (offline.design) after "session"."""
    schema = FRAMES_SCHEMA
    for i, name in enumerate(design_columns):
        schema = schema.insert(1 + i, pa.field(name, pa.dictionary(pa.int32(), pa.string())))
    return schema


class FramesParquet:
    """frames.parquet: add() (session, face, frames[, design cells]) in table order; close() at the end."""

    def __init__(self, path: Path, row_group_rows: int = ROW_GROUP_ROWS, design_columns=()):
        self._schema = frames_schema(design_columns)
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.row_group_rows = row_group_rows
        self.rows = 0

    def add(self, session: str, face: str, frames: pa.RecordBatch, design: Sequence[str] = ()) -> None:
        n = frames.num_rows
        zeros = pa.array(np.zeros(n, dtype=np.int32))

        def constant(text):
            return pa.DictionaryArray.from_arrays(zeros, pa.array([text], pa.string()))

        self._pending.append(pa.record_batch(
            [constant(session), *(constant(v) for v in design), constant(face), *frames.columns],
            schema=self._schema))
        self._pending_rows += n
        if self._pending_rows >= self.row_group_rows:
            self.flush()

    def flush(self) -> None:
        """Write what is pending (the frames handed to add() may be released after this)."""
        if self._pending:
            table = pa.Table.from_batches(self._pending, schema=self._schema)
            self._writer.write_table(table, row_group_size=self.row_group_rows)
            self.rows += self._pending_rows
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self.flush()
        self._writer.close()
