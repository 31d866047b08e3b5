"""Everything downstream of the offline pipeline: output bag, valence.csv, per-face statistics.

One ``write()`` per input batch: Valence rows for every published frame and
ValenceState rows for the frames whose state changed are CDR-encoded in bulk
(valence_ros.cdr) and written to the output bag (bag_writer.BagWriter); the CSV rows go
to report.CsvWriter (in bag order when several topics are analysed); and each
face's running statistics (report.FaceStats) are updated.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from valence_ros.offline.bag_writer import BagWriter
from valence_ros.cdr import VALENCE, VALENCE_STATE, encode_valence, encode_valence_state
from valence_ros.offline.pipeline import row_groups
from valence_ros.offline.report import CsvWriter, FaceStats

if TYPE_CHECKING:
    from valence_ros.offline.pipeline import OutputBatch

__all__ = ["OutputSink"]


class OutputSink:
    """Output bag + CSV + statistics for one analysis; ``stats[(topic index, face string id)]``.

    ``table``: the shared StringTable of face/frame ids; ``out_topics``: input
    topic -> (valence topic, valence_state topic); ``params``: the node's
    parameters (face_timeout: longer gaps do not count as time in a state;
    max_faces: the valence_state history depth the node offers, 2 * max_faces).
    """

    def __init__(self, tmp: Path, table, storage: str, topics: list[str], out_topics, params: dict):
        self.table = table
        self.topics = topics
        self.multi = len(topics) > 1
        self.csv = CsvWriter(tmp / "valence.csv", table.strings, with_topic=self.multi, topic_names=topics)
        self.bag = BagWriter(tmp / "valence_bag", storage)
        self.connections = []
        for topic in topics:
            valence_topic, state_topic = out_topics[topic]
            self.connections.append((
                self.bag.add_topic(valence_topic, VALENCE),
                self.bag.add_topic(state_topic, VALENCE_STATE, depth=2 * int(params["max_faces"]))))
        self.stats: dict[tuple[int, int], FaceStats] = {}
        self.gap_ns = int(round(float(params["face_timeout"]) * 1e9))

    def write(self, outputs: Iterable[tuple[int, Any, OutputBatch]]) -> None:
        """outputs: [(topic index, row order keys, OutputBatch)] of one input batch."""
        outputs = [o for o in outputs if len(o[2])]
        if not outputs:
            return
        utf8 = self.table.utf8
        prefix = self.bag.prefix
        for t, _, out in outputs:
            conn_v, conn_s = self.connections[t]
            buf, offs, sizes = encode_valence(out.sec, out.nanosec, out.frame, out.face, utf8,
                                              out.valence, out.raw_valence, prefix=prefix)
            self.bag.write_records(conn_v, out.now_ns, buf, offs, sizes)
            changed = out.changed
            if changed.any():
                buf, offs, sizes = encode_valence_state(
                    out.sec[changed], out.nanosec[changed], out.frame[changed], out.face[changed],
                    utf8, out.state[changed], out.valence[changed], prefix=prefix)
                self.bag.write_records(conn_s, out.now_ns[changed], buf, offs, sizes)
            self._add_stats(t, out)
        if len(outputs) == 1:
            t, _, out = outputs[0]
            self.csv.write(out.stamp_ns, out.face, out.valence, out.raw_valence, out.state,
                           np.full(len(out), t) if self.multi else None)
        else:   # several topics: CSV rows in bag order
            order = np.argsort(np.concatenate([keys for _, keys, _ in outputs]), kind="stable")
            def cat(name):
                return np.concatenate([getattr(o, name) for _, _, o in outputs])[order]
            topic = np.concatenate([np.full(len(o), t) for t, _, o in outputs])[order]
            self.csv.write(cat("stamp_ns"), cat("face"), cat("valence"), cat("raw_valence"),
                           cat("state"), topic)

    def _add_stats(self, t, out) -> None:
        for face, select in row_groups(out.face):
            stats = self.stats.get((t, face))
            if stats is None:
                stats = self.stats[(t, face)] = FaceStats(self.topics[t], self.table.strings[face], self.gap_ns)
            stats.add(out.stamp_ns[select], out.valence[select], out.raw_valence[select],
                      out.state[select], out.changed[select])

    def close(self) -> None:
        self.csv.close()
        self.bag.close()

    def abort(self) -> None:
        try:
            self.csv.close()
        finally:
            self.bag.abort()
