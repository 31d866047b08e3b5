"""valence_ros.behaviours: real py_trees trees ticked against the running node.

The installed valence_node runs as a process; the trees live in this test
process on the client's rclpy node (setup(node=...), py_trees_ros's
convention) and are ticked here, while the client's executor thread runs the
subscription callbacks. Frames are stamped with the current time, as a camera
would stamp them, because min_duration and max_age compare header stamps with
the tree node's clock.
"""
from __future__ import annotations

import time
import tracemalloc
from itertools import repeat

import py_trees
import pytest

from helpers.inputs import HAPPY, NEUTRAL, SAD
from helpers.ros_clients import NodeSession
from valence_ros.behaviours import ValenceAbove, ValenceBelow, ValenceStateIs, ValenceToBlackboard

pytestmark = pytest.mark.ros

SUCCESS, FAILURE = py_trees.common.Status.SUCCESS, py_trees.common.Status.FAILURE


@pytest.fixture(scope="module")
def session(ros_client, module_node_factory):
    process = module_node_factory({"face_timeout": 60.0, "input_qos_reliability": "reliable",
                                   "input_qos_depth": 100}, namespace="/bt")
    s = NodeSession(ros_client, process)
    yield s
    s.close()


class Trees:
    """Behaviours set up on the client's node; shut down (subscriptions removed) after."""

    def __init__(self, client):
        self.client = client
        self.made = []

    def setup(self, behaviour):
        with self.client._lock:
            behaviour.setup(node=self.client.node)
        self.made.append(behaviour)
        self.matched(behaviour)
        return behaviour

    def matched(self, behaviour):
        """Until the node's publishers are discovered (valence is volatile: frames sent
        before that would be missed, as by any late subscriber)."""
        for subscription in behaviour._subscriptions:
            self.client.wait_for(lambda sub=subscription: sub.get_publisher_count() >= 1,
                                 what=f"a publisher on {subscription.topic_name}")

    def tick(self, behaviour):
        behaviour.tick_once()
        return behaviour.status

    def close(self):
        with self.client._lock:
            for behaviour in self.made:
                behaviour.shutdown()


@pytest.fixture
def trees(ros_client):
    t = Trees(ros_client)
    yield t
    t.close()
    py_trees.blackboard.Blackboard.clear()


def now_ns() -> int:
    return time.time_ns()


def send_and_wait(session, probabilities, face_id, stamp_ns, count=None):
    before = len(session.valence_of(face_id))
    session.send(probabilities, face_id=face_id, stamp_ns=stamp_ns)
    return session.wait_valence(face_id, before + 1)[-1]


def send_until(session, probabilities, face_id, predicate, what):
    """Send a fresh frame every 50 ms until predicate() holds; returns the last Valence."""
    deadline = time.monotonic() + 30
    while True:
        frame = send_and_wait(session, probabilities, face_id, now_ns())
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            if predicate():
                return frame
            time.sleep(0.005)
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


def test_arguments_are_checked_at_construction():
    with pytest.raises(ValueError, match="state 'SAD' is invalid; allowed: one of NEGATIVE"):
        ValenceStateIs("x", state="SAD")
    with pytest.raises(ValueError, match="min_duration"):
        ValenceStateIs("x", state="NEGATIVE", min_duration=-1)
    with pytest.raises(ValueError, match="threshold"):
        ValenceAbove("x", threshold=2.0)
    with pytest.raises(ValueError, match="max_age"):
        ValenceBelow("x", threshold=0.0, max_age=-1.0)
    with pytest.raises(ValueError, match="ValenceToBlackboard"):
        ValenceToBlackboard("x", face="any")
    for behaviour in (ValenceStateIs("x", "UNKNOWN"), ValenceAbove("y", 0.0), ValenceBelow("z", 0.0)):
        assert isinstance(behaviour, py_trees.behaviour.Behaviour)
        with pytest.raises(KeyError, match=r"setup\(\) needs the ROS node"):
            behaviour.setup()


def test_state_condition_with_min_duration_against_the_node(session, trees):
    S = session.msg.ValenceState
    upset = trees.setup(ValenceStateIs("upset", state=S.NEGATIVE, face="any", min_duration=1.0,
                                       topic="/bt/valence_state"))
    named = trees.setup(ValenceStateIs("ann upset", state="negative", face="ann",
                                       topic="/bt/valence_state"))
    assert trees.tick(upset) == FAILURE and trees.tick(named) == FAILURE
    stamp = now_ns()
    send_and_wait(session, SAD, "ann", stamp)
    session.client.wait_for(lambda: trees.tick(named) == SUCCESS, what="ann NEGATIVE")
    # min_duration by stamps: FAILURE while less than 1 s of stamp time has passed,
    # SUCCESS after, with no new message in between (states are sent on change only).
    seen = []
    while time.time_ns() < stamp + 1_500_000_000:
        seen.append((time.time_ns() - stamp, trees.tick(upset)))
        time.sleep(0.02)
    early = [status for age, status in seen if age < 990_000_000]
    late = [status for age, status in seen if age > 1_010_000_000]
    assert early and set(early) == {FAILURE} and late and set(late) == {SUCCESS}
    send_and_wait(session, HAPPY, "ann", now_ns())
    session.client.wait_for(lambda: trees.tick(named) == FAILURE and trees.tick(upset) == FAILURE,
                            what="ann no longer NEGATIVE")


def test_a_tree_started_late_gets_every_face_at_once(session, trees):
    S = session.msg.ValenceState
    stamp = now_ns() - 3_000_000_000       # both states entered 3 s ago
    send_and_wait(session, SAD, "late_a", stamp)
    send_and_wait(session, HAPPY, "late_b", stamp)
    session.client.wait_for(lambda: {"late_a", "late_b"} <= {m.face_id for m in session.state.msgs},
                            what="both states published")
    # Only now is the tree built: the latched history brings both faces.
    upset = ValenceStateIs("upset", S.NEGATIVE, face="late_a", min_duration=2.0, topic="/bt/valence_state")
    happy = ValenceStateIs("happy", S.POSITIVE, face="late_b", min_duration=2.0, topic="/bt/valence_state")
    root = py_trees.composites.Sequence("both", memory=False, children=[upset, happy])
    tree = py_trees.trees.BehaviourTree(root)
    with session.client._lock:
        tree.setup(node=session.client.node)
    trees.made += [upset, happy]
    session.client.wait_for(lambda: upset.board.state_of("late_a") == S.NEGATIVE
                            and happy.board.state_of("late_b") == S.POSITIVE,
                            what="the latched states", timeout=10)
    tree.tick()
    assert root.status == SUCCESS, "acts on the latched states without waiting for a change"


def test_face_leaving_makes_unknown_hold(session, trees):
    S = session.msg.ValenceState
    gone = trees.setup(ValenceStateIs("gone", S.UNKNOWN, face="leaver", topic="/bt/valence_state"))
    send_and_wait(session, NEUTRAL, "leaver", now_ns())
    session.client.wait_for(lambda: trees.tick(gone) == FAILURE, what="leaver tracked")
    assert all(r.successful for r in session.client.set_parameters(
        session.process.fqn, {"face_timeout": 0.3}))
    try:
        session.client.wait_for(lambda: trees.tick(gone) == SUCCESS, what="leaver UNKNOWN")
    finally:
        assert all(r.successful for r in session.client.set_parameters(
            session.process.fqn, {"face_timeout": 60.0}))


def test_valence_above_below_with_max_age(session, trees):
    above = trees.setup(ValenceAbove("glad", threshold=0.3, face="vic", max_age=2.0, topic="/bt/valence"))
    below = trees.setup(ValenceBelow("down", threshold=-0.3, face="any", max_age=2.0, topic="/bt/valence"))
    assert trees.tick(above) == FAILURE and trees.tick(below) == FAILURE
    # The valence topic is volatile: until the node's publisher has matched the new
    # subscription, frames do not reach it; a camera keeps sending, so do we.
    frame = send_until(session, HAPPY, "vic", lambda: trees.tick(above) == SUCCESS, "vic above 0.3")
    assert trees.tick(below) == FAILURE
    # no frame for max_age: FAILURE again, with no message (staleness by time)
    session.client.wait_for(lambda: trees.tick(above) == FAILURE, what="vic stale", timeout=10)
    assert time.time_ns() - frame.header.stamp.sec * 10**9 >= 2 * 10**9 - 10**7, "not before max_age"
    frame = send_until(session, SAD, "wes", lambda: trees.tick(below) == SUCCESS, "someone below -0.3")


def test_to_blackboard_feeds_py_trees_own_checks(session, trees):
    import operator
    S = session.msg.ValenceState
    writer = ValenceToBlackboard("valence to bb", face="bb_face", state_topic="/bt/valence_state",
                                 valence_topic="/bt/valence")
    check = py_trees.behaviours.CheckBlackboardVariableValue(
        name="is negative", check=py_trees.common.ComparisonExpression(
            variable="valence_state", value=S.NEGATIVE, operator=operator.eq))
    root = py_trees.composites.Sequence("react", memory=False, children=[writer, check])
    tree = py_trees.trees.BehaviourTree(root)
    with session.client._lock:
        tree.setup(node=session.client.node)
    trees.made.append(writer)
    trees.matched(writer)
    reader = py_trees.blackboard.Client(name="test reader")
    for key in ("valence_state", "valence", "valence_face"):
        reader.register_key(key, access=py_trees.common.Access.READ)
    tree.tick()
    assert root.status == FAILURE and reader.valence_state == S.UNKNOWN and reader.valence is None

    def written():
        tree.tick()
        return root.status == SUCCESS and reader.valence is not None

    frame = send_until(session, SAD, "bb_face", written, "the state and valence on the blackboard")
    assert reader.valence_face == "bb_face" and reader.valence_state == S.NEGATIVE
    assert reader.valence == pytest.approx(frame.valence, abs=0.2)


def test_ticking_a_condition_does_not_allocate(session, trees):
    S = session.msg.ValenceState
    conditions = [trees.setup(ValenceStateIs("c1", S.NEGATIVE, face="any", min_duration=0.5,
                                             topic="/bt/valence_state")),
                  trees.setup(ValenceAbove("c2", 0.1, face="all", topic="/bt/valence")),
                  trees.setup(ValenceBelow("c3", 0.1, face="latest", topic="/bt/valence"))]
    send_and_wait(session, SAD, "alloc", now_ns())
    u1, u2, u3 = (c.update for c in conditions)
    u1(), u2(), u3()
    ticks = repeat(None, 1000)
    # The client's executor thread allocates for its own work meanwhile; stop it from
    # running Python code by holding the entity lock is not possible, so count only
    # allocations made from the behaviours' and the core's source files.
    tracemalloc.start(1)
    try:
        before = tracemalloc.take_snapshot()
        for _ in ticks:
            u1(), u2(), u3()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ours = ("behaviours/conditions.py", "behaviours/subscriptions.py", "behaviours/face_selection.py")
    grown = [d for d in after.compare_to(before, "traceback")
             if d.traceback[0].filename.endswith(ours) and d.count_diff > 0]
    assert grown == []
