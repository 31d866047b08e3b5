"""State episodes: runs of one state per face, ended by a change of state or by face loss.

An episode is a maximal run of one face's published frames (arrival order)
in one state within one track of the face tracker. It ends

* on a change of state: at the stamp of the first frame in the new state
  (the state held until then - each interval between two frames counts for
  the state of its first frame, as the time shares in summary.json do);
* where the tracker forgot the face (face_timeout, max_faces eviction: its
  next frame has ``new_track``) and at the end of the session: at the stamp
  of the episode's last frame (the gap is nobody's time).

Frames in a state other than NEGATIVE/NEUTRAL/POSITIVE (UNKNOWN) form no
episode and end the one before them like a change of state. Face loss is the
tracker's decision (TrackedFrame.new_track), not a second timeout here.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["EPISODE_STATES", "EpisodeBuilder", "FaceEpisodes"]

EPISODE_STATES = (NEGATIVE, NEUTRAL, POSITIVE)


@dataclass
class _Run:
    state: int
    start_ns: int
    last_ns: int    # latest stamp in the run so far


@dataclass
class FaceEpisodes:
    """One face's closed episodes (state, start_ns, end_ns) and the first stamp of each state.

    The closed episodes are kept in typed arrays, 17 bytes each (a list of tuples took
    ~120 bytes: a session with 1M episodes peaked its worker at 562 MiB)."""

    first_ns: int
    first_state_ns: dict = field(default_factory=dict)
    states: array = field(default_factory=lambda: array("b"))
    starts: array = field(default_factory=lambda: array("q"))
    ends: array = field(default_factory=lambda: array("q"))
    open: _Run | None = None

    def add_closed(self, state: int, start_ns: int, end_ns: int) -> None:
        self.states.append(state)
        self.starts.append(start_ns)
        self.ends.append(end_ns)

    def counts(self) -> dict[int, int]:
        counts = np.bincount(np.asarray(self.states, dtype=np.int64) + 1, minlength=3)
        return {s: int(counts[s + 1]) for s in EPISODE_STATES}

    def sorted_closed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(states, starts, ends) of the closed episodes in (start, end, state) order."""
        states, starts, ends = (np.asarray(a) for a in (self.states, self.starts, self.ends))
        if np.all(starts[1:] > starts[:-1]):   # closed in stamp order, the usual case: no copies
            return states, starts, ends
        order = np.lexsort((states, ends, starts))
        return states[order], starts[order], ends[order]

    def time_to_first_s(self, state: int) -> float | None:
        """Seconds from the face's first frame to its first frame in `state` (None: never)."""
        ns = self.first_state_ns.get(state)
        return None if ns is None else (ns - self.first_ns) * 1e-9


class EpisodeBuilder:
    """add() one face's frames at a time in arrival order (any batching); finish() at the end."""

    def __init__(self):
        self.faces: dict[str, FaceEpisodes] = {}

    def add(self, face: str, stamp_ns: np.ndarray, state: ArrayLike, new_track: ArrayLike) -> None:
        n = len(stamp_ns)
        if n == 0:
            return
        stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
        state = np.asarray(state, dtype=np.int64)
        new_track = np.asarray(new_track, dtype=bool)
        info = self.faces.get(face)
        if info is None:
            info = self.faces[face] = FaceEpisodes(first_ns=int(stamp_ns[0]))
        for s in EPISODE_STATES:
            if s not in info.first_state_ns:
                hit = np.flatnonzero(state == s)
                if len(hit):
                    info.first_state_ns[s] = int(stamp_ns[hit[0]])
        prev = info.open
        brk = np.empty(n, dtype=bool)   # frame i starts a run
        brk[1:] = (state[1:] != state[:-1]) | new_track[1:]
        brk[0] = prev is None or bool(new_track[0]) or int(state[0]) != prev.state
        starts = np.flatnonzero(brk).tolist()
        bounds = starts + [n]
        if prev is not None:
            cont = bounds[0]            # frames [0, cont) continue the open run
            if cont:
                prev.last_ns = max(prev.last_ns, int(stamp_ns[:cont].max()))
            if starts:
                self._close(info, prev, int(stamp_ns[cont]), bool(new_track[cont]))
        for k, i in enumerate(starts):
            j = bounds[k + 1]
            run = _Run(int(state[i]), int(stamp_ns[i]), int(stamp_ns[i:j].max()))
            if j < n:
                self._close(info, run, int(stamp_ns[j]), bool(new_track[j]))
            else:
                info.open = run

    @staticmethod
    def _close(info: FaceEpisodes, run: _Run, next_ns: int, lost: bool) -> None:
        """Close `run`, followed by a frame at next_ns (lost: that frame starts a new track)."""
        info.open = None
        if run.state in EPISODE_STATES:
            end = run.last_ns if lost else max(run.last_ns, next_ns)
            info.add_closed(run.state, run.start_ns, end)

    def finish(self) -> None:
        """End of the session: open episodes end at their last frame."""
        for info in self.faces.values():
            if info.open is not None:
                self._close(info, info.open, info.open.last_ns, True)

    def rows(self) -> list[tuple[str, int, int, int]]:
        """(face, state, start_ns, end_ns) in (face, start) order (a list: for small sessions;
        study_tables.episode_csv() streams them)."""
        out = []
        for face in sorted(self.faces):
            states, starts, ends = self.faces[face].sorted_closed()
            out += [(face, s, a, b) for s, a, b in zip(states.tolist(), starts.tolist(), ends.tolist())]
        return out
