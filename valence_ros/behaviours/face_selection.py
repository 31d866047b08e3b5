"""What a behaviour-tree condition sees of the node's faces: pure bookkeeping.

A subscriber keeps the latest ValenceState (or Valence frame) per face_id and
answers "does the condition hold now?". The answer is precomputed in the
message callback as one or two times, so the tick itself is two float
comparisons: no loop, no allocation (callbacks are rare for states, and cost
O(faces) per Valence frame).

Faces are selected by ``face``: a face_id, ``"any"`` tracked face, ``"all"``
tracked faces (at least one), or the ``"latest"`` one. All times are seconds of
header-stamp time; ``now`` is the subscriber's ROS clock (the stamps are
capture times on that clock, live and under sim time).
"""
from __future__ import annotations

import math

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE, STATE_NAMES, UNKNOWN

ANY = "any"
ALL = "all"
LATEST = "latest"
SELECTORS = (ANY, ALL, LATEST)
STATES = (NEGATIVE, NEUTRAL, POSITIVE, UNKNOWN)
MAX_FACES = 1024  # the node tracks at most 1024 faces (max_faces range)

_INF = math.inf


def parse_state(state) -> int:
    """A ValenceState constant (int) or its name, any case -> the int."""
    if isinstance(state, str):
        names = {name: value for value, name in STATE_NAMES.items()}
        key = state.strip().upper()
        if key in names:
            return names[key]
    elif isinstance(state, int) and not isinstance(state, bool) and state in STATES:
        return int(state)
    raise ValueError(f"state {state!r} is invalid; allowed: one of "
                     + ", ".join(f"{STATE_NAMES[s]} ({s})" for s in STATES))


def check_face(face, allowed=SELECTORS) -> str:
    if not isinstance(face, str) or face == "":
        raise ValueError(f"face {face!r} is invalid; allowed: a face_id or one of "
                         + ", ".join(repr(s) for s in allowed))
    return face


def check_seconds(name: str, value, allow_inf: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 \
        and (math.isfinite(value) or (allow_inf and value == _INF))
    if not ok:
        raise ValueError(f"{name} {value!r} is invalid; allowed: seconds >= 0"
                         + (" (inf = no limit)" if allow_inf else ""))
    return float(value)


class StateBoard:
    """Latest state per face from ValenceState messages, for one condition
    "face(s) in `state` for at least `min_duration`".

    UNKNOWN removes a face (it left); a face never seen is UNKNOWN. Over a set
    of faces (any/all/latest), UNKNOWN means "no face is tracked", held since
    the last face left (forever if none was ever seen). A face's state has held
    since its message's header stamp (the node sends a state once, on entry,
    and re-sends it unchanged). ``latest`` = the tracked face whose state
    changed most recently (largest stamp; re-sent messages do not count).
    """

    __slots__ = ("face", "state", "min_duration", "max_faces", "_faces", "_since", "_empty_since",
                 "_face_gone_since")

    def __init__(self, face: str, state: int, min_duration: float = 0.0, max_faces: int = MAX_FACES):
        self.face = check_face(face)
        self.state = parse_state(state)
        self.min_duration = check_seconds("min_duration", min_duration)
        self.max_faces = max_faces
        self._faces: dict[str, tuple[int, float]] = {}   # face_id -> (state, since)
        self._empty_since = -_INF    # when the last tracked face left
        self._face_gone_since = -_INF  # when the selected face_id left
        self._since = _INF
        self._recompute()

    def __len__(self) -> int:
        return len(self._faces)

    def state_of(self, face_id: str) -> int:
        entry = self._faces.get(face_id)
        return UNKNOWN if entry is None else entry[0]

    def latest(self) -> str | None:
        """face_id of the tracked face whose state changed last (None: no face)."""
        best, best_since = None, -_INF
        for face_id, (_, since) in self._faces.items():
            if since >= best_since:
                best, best_since = face_id, since
        return best

    def on_state(self, face_id: str, state: int, stamp: float) -> None:
        faces = self._faces
        if state == UNKNOWN:
            if faces.pop(face_id, None) is not None and not faces:
                self._empty_since = stamp
            if face_id == self.face:
                self._face_gone_since = stamp
        else:
            faces.pop(face_id, None)
            if len(faces) >= self.max_faces:   # bound: forget the longest-unchanged face
                del faces[min(faces, key=lambda f: faces[f][1])]
            faces[face_id] = (state, stamp)
        self._recompute()

    def holds(self, now: float) -> bool:
        """The condition at `now` (seconds on the stamps' clock). No allocation."""
        return now - self._since >= self.min_duration

    def _recompute(self) -> None:
        """Since when the condition has held (inf: it does not)."""
        faces, want = self._faces, self.state
        if self.face not in SELECTORS:
            entry = faces.get(self.face)
            if entry is None:
                self._since = self._face_gone_since if want == UNKNOWN else _INF
            else:
                self._since = entry[1] if entry[0] == want else _INF
            return
        if not faces:
            self._since = self._empty_since if want == UNKNOWN else _INF
            return
        if want == UNKNOWN:
            self._since = _INF
            return
        if self.face == LATEST:
            state, since = faces[self.latest()]
            self._since = since if state == want else _INF
            return
        matching = [since for state, since in faces.values() if state == want]
        if self.face == ANY:
            self._since = min(matching) if matching else _INF
        else:  # ALL
            self._since = max(matching) if len(matching) == len(faces) else _INF


class ValenceBoard:
    """Latest smoothed valence per face from Valence frames, for one condition
    "valence above (or below) `threshold`", where a face counts only while its
    last frame is at most `max_age` old.

    face_id: that face's last frame is fresh and passes. any: some fresh face
    passes. all: at least one face is fresh and every fresh face passes.
    latest: the face with the newest frame is fresh and passes. Strict
    comparisons: ``valence > threshold`` (above) or ``< threshold`` (below).
    """

    __slots__ = ("face", "threshold", "above", "max_age", "max_faces", "_faces",
                 "_newest_pass", "_newest_fail", "_latest_face", "_latest_stamp")

    def __init__(self, face: str, threshold: float, above: bool, max_age: float = 1.0,
                 max_faces: int = MAX_FACES):
        self.face = check_face(face)
        if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
                and -1.0 <= threshold <= 1.0):
            raise ValueError(f"threshold {threshold!r} is invalid; allowed: [-1.0, 1.0]")
        self.threshold = float(threshold)
        self.above = bool(above)
        self.max_age = check_seconds("max_age", max_age, allow_inf=True)
        self.max_faces = max_faces
        self._faces: dict[str, tuple[float, float]] = {}  # face_id -> (valence, stamp)
        self._newest_pass = -_INF   # newest frame stamp among selected faces that pass
        self._newest_fail = -_INF   # ... that do not pass
        self._latest_face: str | None = None
        self._latest_stamp = -_INF

    def __len__(self) -> int:
        return len(self._faces)

    def value_of(self, face_id: str) -> tuple[float, float] | None:
        """(valence, stamp) of the face's last frame, or None."""
        return self._faces.get(face_id)

    def latest(self) -> str | None:
        return self._latest_face

    def passes(self, valence: float) -> bool:
        return valence > self.threshold if self.above else valence < self.threshold

    def on_valence(self, face_id: str, valence: float, stamp: float) -> None:
        faces = self._faces
        previous = faces.pop(face_id, None)
        if previous is not None and stamp < previous[1]:
            stamp_valence = previous   # an out-of-order frame does not move a face back in time
            faces[face_id] = stamp_valence
            return
        if len(faces) >= self.max_faces:  # bound: forget the stalest face
            del faces[min(faces, key=lambda f: faces[f][1])]
        faces[face_id] = (valence, stamp)
        if stamp >= self._latest_stamp:
            self._latest_face, self._latest_stamp = face_id, stamp
        face = self.face
        if face == ANY or face == ALL:
            newest_pass = newest_fail = -_INF
            for value, seen in faces.values():
                if self.passes(value):
                    newest_pass = seen if seen > newest_pass else newest_pass
                else:
                    newest_fail = seen if seen > newest_fail else newest_fail
            self._newest_pass, self._newest_fail = newest_pass, newest_fail
        elif face == LATEST or face == face_id:
            if face == LATEST and face_id != self._latest_face:
                return
            if self.passes(valence):
                self._newest_pass, self._newest_fail = stamp, -_INF
            else:
                self._newest_pass, self._newest_fail = -_INF, stamp

    def holds(self, now: float) -> bool:
        """The condition at `now` (seconds on the stamps' clock). No allocation."""
        if now - self._newest_pass > self.max_age:
            return False     # no fresh face passes
        if self.face == ALL:
            return now - self._newest_fail > self.max_age   # and no fresh face fails
        return True


def snapshot(face: str, states: StateBoard, valences: ValenceBoard, now: float):
    """(face_id, state, valence) of one selected face: a face_id, or "latest"
    = the face with the newest Valence frame within max_age (else the face
    whose state changed last). No face: ("", UNKNOWN, None); valence is None
    when the face has no frame within valences.max_age."""
    if face == LATEST:
        face_id = valences.latest()
        if face_id is None or now - valences.value_of(face_id)[1] > valences.max_age:
            face_id = states.latest()
        if face_id is None:
            return "", UNKNOWN, None
    else:
        face_id = face
    value = valences.value_of(face_id)
    valence = None if value is None or now - value[1] > valences.max_age else value[0]
    return face_id, states.state_of(face_id), valence
