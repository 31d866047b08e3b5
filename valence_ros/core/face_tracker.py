"""Per-face valence state: smoothing filter, discrete state and expiry.

Shared by the live node and the offline analyser so both give the same
answer for the same frames (state_min_duration debouncing included). `now_ns` is the caller's clock: the node's ROS
clock live (so sim time works), the frame stamp offline.

Faces that stop being tracked are returned as GoneFace (why, and their last
valence) so the caller can announce them (the node publishes UNKNOWN): from
expire() and forget_all(), and, for faces dropped inside update() (a face
over face_timeout seen again before expire() ran, or evicted beyond
max_faces), from take_gone().
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, cast

from valence_ros.core.smoothing import ExponentialSmoother
from valence_ros.core.valence_state import StateThresholds, classify, next_state

# Why a face stopped being tracked (GoneFace.reason).
EXPIRED = "expired"          # no frame for face_timeout
EVICTED = "evicted"          # dropped to keep at most max_faces
CLOCK_RESET = "clock_reset"  # the clock jumped back: every face restarts
SHUTDOWN = "shutdown"        # the node stops
DEACTIVATED = "deactivated"  # the lifecycle node was deactivated
LEFT = "left"                # it left the tracked-faces list (ROS4HRI)


@dataclass(frozen=True)
class TrackerConfig:
    smoothing_time_constant: float = 0.5   # seconds, 0 = no smoothing
    thresholds: StateThresholds = field(default_factory=StateThresholds)
    face_timeout: float = 2.0              # seconds without frames before a face is forgotten
    max_faces: int = 16                    # bound on tracked faces; the least recently seen goes first
    state_min_duration: float = 0.0        # seconds of stamp time a new state must be asked for first


class TrackedFrame(NamedTuple):
    valence: float       # smoothed valence
    state: int           # NEGATIVE / NEUTRAL / POSITIVE after this frame
    state_changed: bool  # True on a transition and on a face's first frame
    in_order: bool       # False when the stamp is older than the face's last one
    new_track: bool      # True when the face was not tracked before this frame: never seen, or
                         # forgotten (face_timeout, max_faces eviction) - a study's episodes end there


class GoneFace(NamedTuple):
    face_id: str
    reason: str          # EXPIRED, EVICTED, CLOCK_RESET or SHUTDOWN
    state: int           # its last state
    valence: float       # its last smoothed valence


class _Face:
    __slots__ = ("smoother", "state", "last_seen_ns", "pending", "pending_since_ns")

    def __init__(self, time_constant: float):
        self.smoother = ExponentialSmoother(time_constant)
        self.state = 0
        self.last_seen_ns = 0
        self.pending = 0            # the state the hysteresis asks for (== state: no change pending)
        self.pending_since_ns = 0   # stamp of the first frame of the current request

    def gone(self, face_id: str, reason: str) -> GoneFace:
        # A face is created by its first frame, so its smoother always holds a value.
        return GoneFace(face_id, reason, self.state, cast(float, self.smoother.value))


class FaceTracker:
    """Tracks every face_id seen within face_timeout; memory is bounded by max_faces."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self._faces: dict[str, _Face] = {}  # insertion order = least recently seen first
        self._gone: list[GoneFace] = []     # dropped inside update(), until take_gone()
        self.expired = 0        # faces forgotten after face_timeout
        self.evicted = 0        # faces dropped to respect max_faces
        self.out_of_order = 0   # frames older than their face's last frame
        self.reconfigure(config)

    def reconfigure(self, config: TrackerConfig) -> None:
        self.config = config
        self._timeout_ns = int(round(config.face_timeout * 1e9))
        self._min_duration_ns = int(round(config.state_min_duration * 1e9))
        for face in self._faces.values():
            face.smoother.time_constant = config.smoothing_time_constant
        while len(self._faces) > config.max_faces:
            self._drop_oldest()

    def __len__(self) -> int:
        return len(self._faces)

    def face_ids(self) -> list[str]:
        return list(self._faces)

    def state_of(self, face_id: str) -> int | None:
        face = self._faces.get(face_id)
        return None if face is None else face.state

    @property
    def has_gone(self) -> bool:
        """True when update() dropped faces that take_gone() has not returned yet."""
        return bool(self._gone)

    def take_gone(self) -> list[GoneFace]:
        """Faces update() dropped since the last call, oldest first."""
        gone, self._gone = self._gone, []
        return gone

    def update(self, face_id: str, stamp_ns: int, raw_valence: float, now_ns: int) -> TrackedFrame:
        faces = self._faces
        face = faces.pop(face_id, None)
        if face is not None and now_ns - face.last_seen_ns > self._timeout_ns:
            self.expired += 1
            self._gone.append(face.gone(face_id, EXPIRED))
            face = None
        if face is None:
            if len(faces) >= self.config.max_faces:
                self._drop_oldest()
            face = _Face(self.config.smoothing_time_constant)
            valence, in_order = face.smoother.update(stamp_ns, raw_valence)
            face.state = face.pending = classify(valence, self.config.thresholds)
            changed = new_track = True
        else:
            valence, in_order = face.smoother.update(stamp_ns, raw_valence)
            if not in_order:
                self.out_of_order += 1
            state = next_state(face.state, valence, self.config.thresholds)
            changed = state != face.state
            if changed and self._min_duration_ns:
                changed = self._debounce(face, state, stamp_ns, in_order)
            else:
                face.pending = state
            if changed:
                face.state = state
            new_track = False
        face.last_seen_ns = now_ns
        faces[face_id] = face  # re-insert: now the most recently seen
        return TrackedFrame(valence, face.state, changed, in_order, new_track)

    def _debounce(self, face: _Face, state: int, stamp_ns: int, in_order: bool) -> bool:
        """state_min_duration: enter `state` only once the hysteresis has asked for it
        on every frame for that long (stamp time); a request for another state, or
        for the current one, starts over. Out-of-order frames never complete one."""
        if state != face.pending:
            face.pending = state
            face.pending_since_ns = stamp_ns
        return in_order and stamp_ns - face.pending_since_ns >= self._min_duration_ns

    def next_expiry_ns(self) -> int | None:
        """The node-clock time at which expire() would first forget a face (the least
        recently seen one), or None when no face is tracked."""
        for face in self._faces.values():  # insertion order: the least recently seen first
            return face.last_seen_ns + self._timeout_ns + 1
        return None

    def expire(self, now_ns: int) -> list[GoneFace]:
        """Forget faces not seen for more than face_timeout, oldest first."""
        gone = []
        for face_id, face in self._faces.items():
            if now_ns - face.last_seen_ns <= self._timeout_ns:
                break  # the rest were seen more recently
            gone.append(face.gone(face_id, EXPIRED))
        for g in gone:
            del self._faces[g.face_id]
        self.expired += len(gone)
        return gone

    def forget_all(self, reason: str) -> list[GoneFace]:
        """Forget every face (CLOCK_RESET, SHUTDOWN), least recently seen first."""
        gone = [face.gone(face_id, reason) for face_id, face in self._faces.items()]
        self._faces.clear()
        return gone

    def forget(self, face_ids: Iterable[str], reason: str) -> list[GoneFace]:
        """Forget these faces now (LEFT); ids not tracked are ignored."""
        gone = [self._faces.pop(face_id).gone(face_id, reason)
                for face_id in face_ids if face_id in self._faces]
        return gone

    def _drop_oldest(self) -> None:
        face_id = next(iter(self._faces))
        self._gone.append(self._faces.pop(face_id).gone(face_id, EVICTED))
        self.evicted += 1
