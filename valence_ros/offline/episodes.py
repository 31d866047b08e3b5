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

from dataclasses import dataclass, field

import numpy as np

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE

__all__ = ["EPISODE_STATES", "EpisodeBuilder", "FaceEpisodes"]

EPISODE_STATES = (NEGATIVE, NEUTRAL, POSITIVE)


@dataclass
class _Run:
    state: int
    start_ns: int
    last_ns: int    # latest stamp in the run so far


@dataclass
class FaceEpisodes:
    """One face's closed episodes (state, start_ns, end_ns) and the first stamp of each state."""

    first_ns: int
    first_state_ns: dict = field(default_factory=dict)
    closed: list = field(default_factory=list)
    open: _Run | None = None

    def counts(self) -> dict[int, int]:
        counts = dict.fromkeys(EPISODE_STATES, 0)
        for state, _, _ in self.closed:
            counts[state] += 1
        return counts

    def time_to_first_s(self, state: int) -> float | None:
        """Seconds from the face's first frame to its first frame in `state` (None: never)."""
        ns = self.first_state_ns.get(state)
        return None if ns is None else (ns - self.first_ns) * 1e-9


class EpisodeBuilder:
    """add() one face's frames at a time in arrival order (any batching); finish() at the end."""

    def __init__(self):
        self.faces: dict[str, FaceEpisodes] = {}

    def add(self, face: str, stamp_ns, state, new_track) -> None:
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
            info.closed.append((run.state, run.start_ns, end))

    def finish(self) -> None:
        """End of the session: open episodes end at their last frame."""
        for info in self.faces.values():
            if info.open is not None:
                self._close(info, info.open, info.open.last_ns, True)

    def rows(self) -> list[tuple[str, int, int, int]]:
        """(face, state, start_ns, end_ns) in (face, start) order."""
        out = []
        for face in sorted(self.faces):
            runs = sorted(self.faces[face].closed, key=lambda e: (e[1], e[2], e[0]))
            out += [(face, s, a, b) for s, a, b in runs]
        return out
