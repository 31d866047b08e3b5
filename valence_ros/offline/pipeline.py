"""The node's per-frame pipeline, run over batches of recorded frames.

Per frame the live node does (valence_ros/ros/node.py, ``_on_probabilities`` /
``_on_array`` and ``_process``)::

    LabelMapCache.get(labels)            LabelError -> rejected "bad_labels"
    to_canonical(values, map, tolerance) reason     -> rejected <reason>
    y = FastRegressor.predict_one(vec)   non-finite -> rejected "non_finite_output"
    raw = clip(y, -1, 1)
    FaceTracker.update(face_id, stamp_ns, raw, now_ns) -> valence, state, state_changed

Here the same objects run on a batch: label maps from the same
``LabelMapCache``, ``to_canonical_batch`` (the same float32 operations and
reject order as ``to_canonical``), ``predict_batch`` (same weights; agrees
with predict_one to ~1e-7), and then the very same ``FaceTracker.update``
called frame by frame in bag order - smoothing and state logic exist once,
in face_tracker.py. Rejected frames produce no output (the node publishes
nothing for them) and are counted by reason.

``now_ns`` is what the node's clock would read when the frame arrives: the
bag's recorded receive time (log time) for bags, the stamp for CSV input.
For Float32MultiArray input the node stamps frames with that clock too.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np

from valence_ros.core.face_tracker import FaceTracker
from valence_ros.core.labels import LabelError, LabelMapCache
from valence_ros.core.emotions import NUM_EMOTIONS
from valence_ros.core.parameters import input_labels_of, tracker_config
from valence_ros.core.preprocessing import REASON_CODE, REJECT_REASONS, to_canonical_batch

__all__ = ["FrameBatch", "OutputBatch", "OfflinePipeline", "REASONS", "row_groups"]

# The node's reject reasons, plus the offline-only "undecodable": a recorded
# message that is malformed CDR for its type (fails rosbags' checks: lengths,
# bounds, string terminators; rclpy checks less and may accept a few of these).
# Invalid UTF-8 in a string is not malformed: rclpy decodes it with U+FFFD and
# the node processes the frame; so does valence_ros.cdr.
REASONS = REJECT_REASONS + ("non_finite_output", "undecodable")
_CODE = {reason: code for code, reason in enumerate(REASONS, start=1)}
assert all(_CODE[r] == REASON_CODE[r] for r in REJECT_REASONS)


def row_groups(ids: np.ndarray) -> list[tuple[int, slice | np.ndarray]]:
    """[(id, rows selector)] per distinct id; one whole-batch slice in the usual
    case of a single id (no boolean-mask copies)."""
    first = ids[0] if len(ids) else 0
    if len(ids) and (ids == first).all():
        return [(int(first), slice(None))]
    return [(int(value), ids == value) for value in np.unique(ids)]


@dataclass
class FrameBatch:
    """n input frames in arrival order.

    ``face``/``frame`` index ``strings``; ``labels`` indexes ``label_tuples``
    (the empty tuple = the message carried no labels). ``blocks`` hold the
    probabilities: (row indices, float32 (k, m)); a row in no block was
    undecodable. ``sec``/``nanosec`` are the header stamp (copied to the
    outputs); ``stamp_ns`` = sec * 1e9 + nanosec; ``now_ns`` the clock.
    """

    sec: np.ndarray
    nanosec: np.ndarray
    now_ns: np.ndarray
    face: np.ndarray
    frame: np.ndarray
    labels: np.ndarray
    blocks: list
    strings: list
    label_tuples: list

    def __len__(self) -> int:
        return len(self.now_ns)

    @property
    def stamp_ns(self) -> np.ndarray:
        return self.sec * 1_000_000_000 + self.nanosec


@dataclass
class OutputBatch:
    """The published frames of a batch (accepted rows only), in order."""

    rows: np.ndarray        # int64 index of each output in the input batch
    sec: np.ndarray         # int64 header stamp
    nanosec: np.ndarray
    stamp_ns: np.ndarray    # int64
    now_ns: np.ndarray      # int64 (log time for bags)
    face: np.ndarray        # int32 string ids
    frame: np.ndarray       # int32 string ids
    valence: np.ndarray     # float32 smoothed valence (as published)
    raw_valence: np.ndarray  # float32 clipped model output (as published)
    state: np.ndarray       # int8
    changed: np.ndarray     # bool: a ValenceState is published for this frame
    new_track: np.ndarray   # bool: the tracker started (or restarted) the face's track here

    def __len__(self) -> int:
        return len(self.rows)


class OfflinePipeline:
    """One node's worth of state (label cache, model, tracker) for one input topic."""

    def __init__(self, params: dict, model, sum_tolerance: float | None = None):
        self.labels = LabelMapCache(input_labels_of(params))
        self.model = model
        self.sum_tolerance = float(params["sum_tolerance"] if sum_tolerance is None else sum_tolerance)
        self.tracker = FaceTracker(tracker_config(params))
        self.rejected = dict.fromkeys(REASONS, 0)
        self.frames_in = 0
        self.frames_out = 0
        self.states_out = 0
        self.label_lists: dict[tuple[str, ...], str | None] = {}  # label list -> problem (None = ok)

    # ------------------------------------------------------------------ steps

    def _label_map(self, labels: tuple[str, ...]):
        try:
            label_map = self.labels.get(labels)
        except LabelError as error:
            self.label_lists.setdefault(labels, str(error))
            return None
        if labels not in self.label_lists:
            problems = []
            if label_map.unknown:
                problems.append(f"unknown labels {list(label_map.unknown)} dropped")
            if label_map.missing:
                problems.append(f"missing emotions {list(label_map.missing)} count as 0")
            self.label_lists[labels] = "; ".join(problems) or None
        return label_map

    def canonical(self, batch: FrameBatch) -> tuple[np.ndarray, np.ndarray]:
        """(float32 (n, 7) canonical vectors, int8 (n,) reason codes; 0 = accepted)."""
        n = len(batch)
        vectors = np.zeros((n, NUM_EMOTIONS), dtype=np.float32)
        codes = np.full(n, _CODE["undecodable"], dtype=np.int8)
        for idx, values in batch.blocks:
            for label_id, select in row_groups(batch.labels[idx]):
                rows = idx[select]
                label_map = self._label_map(tuple(batch.label_tuples[label_id]))
                if label_map is None:
                    codes[rows] = _CODE["bad_labels"]
                    continue
                vec, code = to_canonical_batch(values[select], label_map, self.sum_tolerance)
                vectors[rows] = vec
                codes[rows] = code
        return vectors, codes

    def run(self, batch: FrameBatch) -> OutputBatch:
        """Process one batch; tracker state carries over to the next batch."""
        n = len(batch)
        self.frames_in += n
        vectors, codes = self.canonical(batch)
        accepted = np.flatnonzero(codes == 0)
        if len(accepted):
            y = self.model.predict_batch(vectors[accepted])
            finite = np.isfinite(y)
            if not finite.all():
                codes[accepted[~finite]] = _CODE["non_finite_output"]
                accepted, y = accepted[finite], y[finite]
            raw = np.clip(y, np.float32(-1.0), np.float32(1.0)).astype(np.float32)
        else:
            raw = np.zeros(0, dtype=np.float32)
        counts = np.bincount(codes, minlength=len(REASONS) + 1)
        for reason, code in _CODE.items():
            self.rejected[reason] += int(counts[code])

        sec = batch.sec[accepted]
        nanosec = batch.nanosec[accepted]
        stamp_ns = sec * 1_000_000_000 + nanosec
        now_ns = batch.now_ns[accepted]
        face = batch.face[accepted]
        k = len(accepted)
        if k and (face == face[0]).all():
            face_ids = repeat(batch.strings[face[0]], k)
        else:
            face_ids = np.asarray(batch.strings, dtype=object)[face].tolist()
        # The node's tracker, frame by frame, in arrival order.
        results = list(map(self.tracker.update, face_ids, stamp_ns.tolist(), raw.tolist(), now_ns.tolist()))
        # Faces dropped inside update() (evicted, or back after face_timeout): the node
        # announces them as UNKNOWN on valence_state; the offline outputs carry the
        # frames' states only (counted in summary.json as expired/evicted faces).
        self.tracker.take_gone()
        # TrackedFrame = (valence, state, state_changed, in_order, new_track), flattened in one pass
        table = np.fromiter(chain.from_iterable(results), dtype=np.float64, count=5 * k).reshape(k, 5)
        valence = table[:, 0].astype(np.float32)
        state = table[:, 1].astype(np.int8)
        changed = table[:, 2] != 0
        self.frames_out += len(accepted)
        self.states_out += int(changed.sum())
        return OutputBatch(
            rows=accepted, sec=sec, nanosec=nanosec, stamp_ns=stamp_ns, now_ns=now_ns,
            face=face, frame=batch.frame[accepted], valence=valence, raw_valence=raw,
            state=state, changed=changed, new_track=table[:, 4] != 0)
