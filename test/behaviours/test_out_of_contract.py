"""Behaviours refuse messages valence_node never sends (issue 22 items 15 and 16).

Real py_trees trees on the client's rclpy node, ticked here; the messages come from a
publisher in this process standing in for a misbehaving one (another node on the
topic, an edited bag): states outside the four constants, valences that are not
finite in [-1, 1]. None may change a decision or reach the blackboard; each is
counted (behaviour.refused).
"""
from __future__ import annotations

import math
import re
import time

import py_trees
import pytest

from helpers.processes import WAIT_TIMEOUT
from helpers.ros_clients import state_qos
from valence_ros.behaviours import ValenceAbove, ValenceBelow, ValenceStateIs, ValenceToBlackboard

pytestmark = pytest.mark.ros

SUCCESS, FAILURE = py_trees.common.Status.SUCCESS, py_trees.common.Status.FAILURE
STATES, VALENCES = "/hostile/valence_state", "/hostile/valence"


class Wire:
    """Publishers on the two topics, and trees set up on the client's node."""

    def __init__(self, client, test_name: str):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        self.client = client
        self.msg = client.msg
        # Topics of this test alone: the client is shared by the module's tests, and a
        # transient-local state of the test before reached a new condition once (CI run)
        suffix = re.sub(r"\W", "_", test_name)
        self.states_topic, self.valences_topic = f"{STATES}_{suffix}", f"{VALENCES}_{suffix}"
        self.states = client.publisher(self.states_topic, client.msg.ValenceState, state_qos())
        self.valences = client.publisher(self.valences_topic, client.msg.Valence,
                                         QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.behaviours = []

    def setup(self, behaviour):
        with self.client._lock:
            behaviour.setup(node=self.client.node)
        self.behaviours.append(behaviour)
        for subscription in behaviour._subscriptions:
            self.client.wait_for(lambda s=subscription: s.get_publisher_count() >= 1,
                                 what=f"a publisher on {subscription.topic_name}")
        return behaviour

    def _stamp(self, msg, age: float = 0.0):
        ns = time.time_ns() - int(age * 1e9)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
        return msg

    def state(self, face_id: str, state: int, valence: float = 0.0, age: float = 0.0):
        self.states.publish(self._stamp(self.msg.ValenceState(face_id=face_id, state=state,
                                                              valence=valence), age))

    def valence(self, face_id: str, valence: float, raw: float | None = None):
        self.valences.publish(self._stamp(self.msg.Valence(
            face_id=face_id, valence=valence, raw_valence=valence if raw is None else raw)))

    def wait_seen(self, behaviour, predicate, what):
        self.client.wait_for(predicate, WAIT_TIMEOUT, what)

    def close(self):
        with self.client._lock:
            for behaviour in self.behaviours:
                behaviour.shutdown()
        self.client.destroy(self.states)
        self.client.destroy(self.valences)


@pytest.fixture
def wire(ros_client, request):
    w = Wire(ros_client, request.node.name)
    yield w
    w.close()
    py_trees.blackboard.Blackboard.clear()


def refused(behaviour) -> int:
    return sum(behaviour.refused.values())


def test_out_of_contract_states_never_keep_a_face_tracked(wire):
    S = wire.msg.ValenceState
    nobody = wire.setup(ValenceStateIs("nobody", S.UNKNOWN, face="all", topic=wire.states_topic))
    happy = wire.setup(ValenceStateIs("happy", S.POSITIVE, face="any", topic=wire.states_topic))
    wire.state("ann", S.POSITIVE, 0.5)
    wire.wait_seen(nobody, lambda: nobody.tick_once() is None and nobody.status == FAILURE
                   and happy.board.state_of("ann") == S.POSITIVE, "ann tracked")
    for k, bad in enumerate((99, -128, 3, -2, 127)):
        wire.state(f"ghost{k}", bad, 0.1)
    wire.state("ann", 99, 0.5)  # a known face: its state must not change either
    wire.wait_seen(nobody, lambda: refused(nobody) == 6 and refused(happy) == 6, "6 refusals each")
    assert nobody.refused["bad_state"] == 6
    happy.tick_once()
    assert happy.status == SUCCESS and happy.board.state_of("ann") == S.POSITIVE
    wire.state("ann", S.UNKNOWN, 0.5)  # the only real face leaves: nobody is tracked
    wire.wait_seen(nobody, lambda: nobody.board.state_of("ann") == S.UNKNOWN, "ann gone")
    nobody.tick_once()
    assert nobody.status == SUCCESS, "a refused state kept a ghost face tracked"
    assert len(nobody.board) == 0


def test_out_of_range_and_non_finite_valences_decide_nothing(wire):
    above = wire.setup(ValenceAbove("glad", 0.5, face="any", max_age=5.0, topic=wire.valences_topic))
    below = wire.setup(ValenceBelow("sad", -0.5, face="all", max_age=5.0, topic=wire.valences_topic))
    bad = [math.inf, 5.0, math.nan, -math.inf, -5.0, 1.0000001]
    for k, value in enumerate(bad):
        wire.valence(f"v{k}", value)
    wire.valence("ok_raw_bad", 0.9, raw=math.nan)
    wire.wait_seen(above, lambda: refused(above) == len(bad) + 1, "every bad valence refused")
    for behaviour in (above, below):
        behaviour.tick_once()
        assert behaviour.status == FAILURE, f"{behaviour.name} decided on a refused valence"
        assert len(behaviour.board) == 0
    wire.valence("real", 0.7)
    wire.wait_seen(above, lambda: above.board.value_of("real") is not None, "a real valence")
    wire.valence("real", math.inf)   # refused: the decision stays the real one's
    wire.wait_seen(above, lambda: refused(above) == len(bad) + 2, "inf refused")
    above.tick_once()
    assert above.status == SUCCESS and above.board.value_of("real")[0] == pytest.approx(0.7)


def test_nothing_out_of_contract_reaches_the_blackboard(wire):
    S = wire.msg.ValenceState
    writer = wire.setup(ValenceToBlackboard("to bb", face="kim", state_topic=wire.states_topic,
                                            valence_topic=wire.valences_topic, max_age=5.0))
    reader = py_trees.blackboard.Client(name="reader")
    for key in ("valence_state", "valence", "valence_face"):
        reader.register_key(key, access=py_trees.common.Access.READ)
    wire.state("kim", 99, 0.2)
    wire.state("kim", S.NEGATIVE, math.nan)
    for value in (math.nan, math.inf, -3.0):
        wire.valence("kim", value)
    wire.wait_seen(writer, lambda: refused(writer) == 5, "5 refusals")
    writer.tick_once()
    assert reader.valence_state == S.UNKNOWN and reader.valence is None
    wire.state("kim", S.NEGATIVE, -0.6)
    wire.valence("kim", -0.6)
    wire.wait_seen(writer, lambda: writer.tick_once() is None and reader.valence is not None
                   and reader.valence_state == S.NEGATIVE, "the real messages")
    assert reader.valence == pytest.approx(-0.6) and writer.refused == {"bad_state": 1, "bad_valence": 4,
                                                                   "id_too_long": 0}


def test_over_long_face_ids_are_not_kept(wire):
    """Issue 22 item 15: 300 ValenceState messages with 1 MiB face_ids added 1.7 GB to a
    tree (faces capped at 1024, id length not; each condition keeps its own copy).
    Ids over MAX_ID_LENGTH (the node's own input bound) are refused and counted; what a
    board keeps is then bounded: at most 1024 faces of at most 256 characters."""
    from valence_ros.core.output_contract import MAX_ID_LENGTH
    S = wire.msg.ValenceState
    conditions = [wire.setup(ValenceStateIs(f"c{k}", S.POSITIVE, face="any", topic=wire.states_topic))
                  for k in range(2)]
    glad = wire.setup(ValenceAbove("glad", 0.5, face="any", max_age=5.0, topic=wire.valences_topic))
    n = 20
    for k in range(n):
        wire.state(f"{k:04d}" + "x" * (1 << 20), S.POSITIVE, 0.9)
        wire.valence(f"{k:04d}" + "y" * (1 << 20), 0.9)
        wire.wait_seen(glad, lambda k=k: glad.refused["id_too_long"] == k + 1
                       and all(c.refused["id_too_long"] == k + 1 for c in conditions),
                       f"long ids {k} refused: {glad.refused}, {[c.refused for c in conditions]}")
    wire.state("z" * MAX_ID_LENGTH, S.POSITIVE, 0.9)   # the longest allowed id is kept
    wire.wait_seen(glad, lambda: all(len(c.board) == 1 for c in conditions), "the 256-char id")
    for condition in conditions:
        assert condition.refused["id_too_long"] == n
        assert condition.board.state_of("z" * MAX_ID_LENGTH) == S.POSITIVE
    assert len(glad.board) == 0
    glad.tick_once()
    assert glad.status == FAILURE
