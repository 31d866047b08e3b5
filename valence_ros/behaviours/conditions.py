"""Conditions on valence_node's output, nav2 style: SUCCESS when it holds, FAILURE otherwise.

py_trees_ros conventions: setup(node=...) subscribes, the callbacks store,
update() only reads (no spinning, no blocking, no allocation). The last
message per face is kept across ticks and re-entries (no ClearingPolicy): a
state is sent only on change, so an old state message is current by design.

A message outside valence_node's output contract (core.output_contract: a state
that is none of the four constants, a valence that is not finite in [-1, 1], a
face_id over MAX_ID_LENGTH characters, which also bounds what a board keeps) is
refused before it reaches a board: it never changes a decision or the blackboard.
Refusals are counted per reason (`refused`) and reported in a warning on the
node's logger at most once per WARNING_PERIOD per reason and behaviour.
"""
from __future__ import annotations

import py_trees

from valence_ros.behaviours.face_selection import ANY, StateBoard, ValenceBoard
from valence_ros.core.output_contract import REFUSAL_REASONS, state_problem, valence_problem
from valence_ros.core.throttle import WarnThrottle
from valence_ros.behaviours.subscriptions import (
    NodeClock, node_from, stamp_seconds, state_qos, valence_qos)

_SUCCESS = py_trees.common.Status.SUCCESS
_FAILURE = py_trees.common.Status.FAILURE
WARNING_PERIOD = 5.0  # s, as the node's default warning_throttle_period


class ContractSubscriber(py_trees.behaviour.Behaviour):
    """The base of every behaviour here (the conditions and ValenceToBlackboard):
    owns the subscriptions a behaviour makes in setup(); shutdown() removes them.
    Refuses messages outside the node's output contract (`refused` counts them)."""

    def __init__(self, name: str):
        super().__init__(name=name)
        self.node = None
        self._now = None
        self._subscriptions: list = []
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self._refusal_warnings = WarnThrottle(WARNING_PERIOD)

    def setup(self, **kwargs) -> None:
        self.node = node_from(self, kwargs)
        self._now = NodeClock(self.node)
        self._subscribe(self.node)

    def _subscribe(self, node) -> None:
        raise NotImplementedError

    def state_accepted(self, msg) -> bool:
        """False (counted, warned) for a ValenceState outside the contract."""
        return self._accepted(state_problem(msg.face_id, msg.state, msg.valence), msg,
                              f"state {msg.state}, valence {msg.valence}")

    def valence_accepted(self, msg) -> bool:
        """False (counted, warned) for a Valence outside the contract."""
        return self._accepted(valence_problem(msg.face_id, msg.valence, msg.raw_valence), msg,
                              f"valence {msg.valence}, raw_valence {msg.raw_valence}")

    def _accepted(self, problem: str | None, msg, values: str) -> bool:
        if problem is None:
            return True
        self.refused[problem] += 1
        held = self._refusal_warnings.due(problem)
        if held is not None:
            more = f", {held} more since the last warning" if held else ""
            self.node.get_logger().warning(
                f"{type(self).__name__} '{self.name}': ignored a {type(msg).__name__} that "
                f"valence_node never sends ({problem}: {values}; face_id "
                f"{msg.face_id[:64]!r}); {self.refused[problem]} so far{more}")
        return False

    def shutdown(self) -> None:
        for subscription in self._subscriptions:
            self.node.destroy_subscription(subscription)
        self._subscriptions.clear()


class ValenceStateIs(ContractSubscriber):
    """SUCCESS while the selected face(s) are in `state` for at least `min_duration` s.

    state: ValenceState.POSITIVE / NEUTRAL / NEGATIVE / UNKNOWN (or the name).
    face: a face_id, "any", "all" or "latest" (see face_selection.StateBoard).
    min_duration: seconds the state has held, by the message stamps vs. the
    node clock. topic: relative, so namespaces and remapping apply.
    """

    def __init__(self, name: str, state, face: str = ANY, min_duration: float = 0.0,
                 topic: str = "valence_state"):
        super().__init__(name)
        self.board = StateBoard(face, state, min_duration)
        self.topic = topic

    def _subscribe(self, node) -> None:
        from valence_ros.msg import ValenceState
        self._subscriptions.append(node.create_subscription(
            ValenceState, self.topic, self._on_state, state_qos()))

    def _on_state(self, msg) -> None:
        if self.state_accepted(msg):
            self.board.on_state(msg.face_id, msg.state, stamp_seconds(msg.header.stamp))

    def update(self) -> py_trees.common.Status:
        return _SUCCESS if self.board.holds(self._now()) else _FAILURE


class _ValenceCondition(ContractSubscriber):
    _above = True

    def __init__(self, name: str, threshold: float, face: str = ANY, max_age: float = 1.0,
                 topic: str = "valence"):
        super().__init__(name)
        self.board = ValenceBoard(face, threshold, self._above, max_age)
        self.topic = topic

    def _subscribe(self, node) -> None:
        from valence_ros.msg import Valence
        self._subscriptions.append(node.create_subscription(
            Valence, self.topic, self._on_valence, valence_qos()))

    def _on_valence(self, msg) -> None:
        if self.valence_accepted(msg):
            self.board.on_valence(msg.face_id, msg.valence, stamp_seconds(msg.header.stamp))

    def update(self) -> py_trees.common.Status:
        return _SUCCESS if self.board.holds(self._now()) else _FAILURE


class ValenceAbove(_ValenceCondition):
    """SUCCESS while the selected face(s)' smoothed valence is > threshold, counting
    only faces with a frame in the last `max_age` s (none: FAILURE)."""

    _above = True


class ValenceBelow(_ValenceCondition):
    """SUCCESS while the selected face(s)' smoothed valence is < threshold, counting
    only faces with a frame in the last `max_age` s (none: FAILURE)."""

    _above = False
