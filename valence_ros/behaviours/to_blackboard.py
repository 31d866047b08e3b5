"""ValenceToBlackboard: the selected face's latest state and valence on the blackboard."""
from __future__ import annotations

import py_trees

from valence_ros.behaviours.face_selection import (
    LATEST, StateBoard, ValenceBoard, check_face, snapshot)
from valence_ros.core.valence_state import UNKNOWN
from valence_ros.behaviours.conditions import ContractSubscriber
from valence_ros.behaviours.subscriptions import stamp_seconds, state_qos, valence_qos


class ValenceToBlackboard(ContractSubscriber):
    """Writes, every tick, for the selected face (a face_id or "latest"):

    state_key   int   ValenceState constant; UNKNOWN when no face is tracked
    valence_key float smoothed valence of its last frame, None when older than max_age
    face_key    str   its face_id ("" when none)

    for py_trees' own idioms (CheckBlackboardVariableValue, EternalGuard, ...).
    Always SUCCESS.
    """

    def __init__(self, name: str, face: str = LATEST, state_key: str = "valence_state",
                 valence_key: str = "valence", face_key: str = "valence_face",
                 max_age: float = 1.0, state_topic: str = "valence_state",
                 valence_topic: str = "valence"):
        super().__init__(name)
        self.face = check_face(face, allowed=(LATEST,))
        if face in ("any", "all"):
            raise ValueError(f"face {face!r} is invalid for ValenceToBlackboard; allowed: "
                             f"a face_id or 'latest' (one face's values are written)")
        self.states = StateBoard(face, UNKNOWN)
        self.valences = ValenceBoard(face, 0.0, True, max_age)
        self.state_topic, self.valence_topic = state_topic, valence_topic
        self.keys = (state_key, valence_key, face_key)
        self.blackboard = self.attach_blackboard_client(name=name)
        for key in self.keys:
            self.blackboard.register_key(key=key, access=py_trees.common.Access.WRITE)
        self._write("", UNKNOWN, None)

    def _subscribe(self, node) -> None:
        from valence_ros.msg import Valence, ValenceState
        self._subscriptions.append(node.create_subscription(
            ValenceState, self.state_topic, self._on_state, state_qos()))
        self._subscriptions.append(node.create_subscription(
            Valence, self.valence_topic, self._on_valence, valence_qos()))

    def _on_state(self, msg) -> None:
        if self.state_accepted(msg):
            self.states.on_state(msg.face_id, msg.state, stamp_seconds(msg.header.stamp))

    def _on_valence(self, msg) -> None:
        if self.valence_accepted(msg):
            self.valences.on_valence(msg.face_id, msg.valence, stamp_seconds(msg.header.stamp))

    def _write(self, face_id: str, state: int, valence) -> None:
        state_key, valence_key, face_key = self.keys
        self.blackboard.set(state_key, state)
        self.blackboard.set(valence_key, valence)
        self.blackboard.set(face_key, face_id)

    def update(self) -> py_trees.common.Status:
        self._write(*snapshot(self.face, self.states, self.valences, self._now()))
        return py_trees.common.Status.SUCCESS

