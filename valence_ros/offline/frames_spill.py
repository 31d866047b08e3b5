"""One session's published frames on disk (Arrow IPC), read back in (face, stamp) order.

A worker appends each output batch split by face as record batches (memory
stays one batch); the parent reads a finished session face by face, in
face_id order, each face's frames by stamp (ties: arrival order). A face
whose stamps never go backwards - the usual case - streams batch by batch;
one with out-of-order stamps is gathered and stable-sorted (that face's
frames in memory, 21 bytes each).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

__all__ = ["SPILL_SCHEMA", "SpillWriter", "read_ordered"]

SPILL_SCHEMA = pa.schema([("stamp_ns", pa.int64()), ("valence", pa.float32()),
                          ("raw_valence", pa.float32()), ("state", pa.int8())])


class SpillWriter:
    """Appends frames of (session, face) groups; ``index`` maps each group to
    [its batch numbers, stamps never go back?, latest stamp]."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_file(self._sink, SPILL_SCHEMA)
        self._batches = 0
        self.index: dict[tuple[str, str], list] = {}

    def add(self, session: str, face: str, stamp_ns: np.ndarray, valence: np.ndarray, raw_valence: np.ndarray,
            state: np.ndarray) -> None:
        if not len(stamp_ns):
            return
        batch = pa.record_batch([pa.array(stamp_ns, pa.int64()), pa.array(valence, pa.float32()),
                                 pa.array(raw_valence, pa.float32()), pa.array(state, pa.int8())],
                                schema=SPILL_SCHEMA)
        self._writer.write_batch(batch)
        entry = self.index.get((session, face))
        ordered = bool(np.all(np.diff(stamp_ns) >= 0))
        if entry is None:
            self.index[(session, face)] = [[self._batches], ordered, int(stamp_ns[-1])]
        else:
            entry[0].append(self._batches)
            entry[1] = entry[1] and ordered and int(stamp_ns[0]) >= entry[2]
            entry[2] = max(entry[2], int(stamp_ns.max()))
        self._batches += 1

    def close(self) -> None:
        if not self._sink.closed:
            try:
                self._writer.close()
            finally:
                self._sink.close()

    def abort(self) -> None:
        """Close and delete, raising nothing for the frames thrown away: after a failed write
        (a full disk) closing fails too, and that error must not replace the one that made
        the caller abort (a study worker died of it instead of reporting its input)."""
        try:
            self.close()
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)


def read_ordered(path: Path, index: dict) -> Iterator[tuple[str, str, pa.RecordBatch]]:
    """(session, face, batch) in (session, face, stamp) order; stable for equal stamps."""
    # No explicit close: the batches handed out reference the mapping, which
    # stays alive as long as they do.
    reader = pa.ipc.open_file(pa.memory_map(str(path), "r"))
    for session, face in sorted(index):
        numbers, ordered, _ = index[(session, face)]
        if ordered:
            for i in numbers:
                yield session, face, reader.get_batch(i)
            continue
        table = pa.Table.from_batches([reader.get_batch(i) for i in numbers]).combine_chunks()
        order = np.argsort(table.column("stamp_ns").to_numpy(), kind="stable")
        for batch in table.take(pa.array(order)).to_batches():
            yield session, face, batch
