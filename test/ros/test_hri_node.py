"""ROS4HRI (REP-155) over real DDS: per-face hri_msgs/Expression output and the
tracked-faces input, against the installed node with hri_msgs (the test fixture
under `make test`, the real package on a ROS4HRI install); and the node without
hri_msgs.
"""
from __future__ import annotations

import hashlib

import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY, SAD
from helpers.install import env_without_hri_msgs, require_hri_msgs
from helpers.processes import WAIT_TIMEOUT
from helpers.ros_clients import NodeSession

pytestmark = pytest.mark.ros

MAX_FACES = 4
TRACKED = "/humans/faces/tracked"
# Frames sent right after discovery are not lost to a best-effort reader that has
# not matched the writer yet.
RELIABLE_INPUT = {"input_qos_reliability": "reliable", "input_qos_depth": 1000}
EXPRESSION_HASH = "RIHS01_411b88e0604397d44775d8ec6a4bc69398fb0dfbfe864c33a40fa99ee85f1b00"


def topic(face_token: str) -> str:
    return f"/humans/faces/{face_token}/expression"


# A node per test (not per module): a retried test then meets a fresh node, not the
# faces and publishers its failed first attempt left behind.
@pytest.fixture
def hri(ros_client, node_process):
    msgs = require_hri_msgs()
    process = node_process({
        **RELIABLE_INPUT, "smoothing_time_constant": 0.0, "face_timeout": 3600.0, "max_faces": MAX_FACES,
        "hri_expression": True, "hri_tracked_faces_topic": TRACKED})
    session = NodeSession(ros_client, process)
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    tracked = ros_client.publisher(TRACKED, msgs.IdsList,
                                   QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    ros_client.wait_matched(tracked, process=process)
    yield session, msgs, tracked
    ros_client.destroy(tracked)
    session.close()


def _expression_topics_with_publishers(client) -> set[str]:
    return {name for name, _ in client.node.get_topic_names_and_types()
            if name.startswith("/humans/faces/") and name.endswith("/expression")
            and client.node.count_publishers(name) > 0}


def test_two_faces_get_their_own_expression_topic(hri, ros_client):
    session, msgs, _ = hri
    for k, (face, frame) in enumerate([("alice", HAPPY), ("bob", SAD)]):
        session.send(frame, face_id=face, stamp_ns=BASE_STAMP_NS + k, frame_id=f"cam_{face}")
    session.wait_valence("alice", 1)
    session.wait_valence("bob", 1)
    # The publisher exists from the face's first frame on: subscribe, then send more.
    alice = ros_client.collect(topic("alice"), msgs.Expression)
    bob = ros_client.collect(topic("bob"), msgs.Expression)
    ros_client.wait_matched(alice, process=session.process)
    ros_client.wait_matched(bob, process=session.process)
    for k in range(3):
        session.send(HAPPY, face_id="alice", stamp_ns=BASE_STAMP_NS + 1000 + k, frame_id="cam_alice")
        session.send(SAD, face_id="bob", stamp_ns=BASE_STAMP_NS + 2000 + k, frame_id="cam_bob")
    alice.wait_for(3, what="3 Expression messages for alice")
    bob.wait_for(3, what="3 Expression messages for bob")
    valence = {(m.face_id, m.header.stamp.nanosec): m.valence for m in session.valence.msgs}
    for collector, face, frame, name, base in [(alice, "alice", HAPPY, msgs.Expression.HAPPY, 1000),
                                               (bob, "bob", SAD, msgs.Expression.SAD, 2000)]:
        for k, m in enumerate(collector.msgs[:3]):
            stamp = BASE_STAMP_NS + base + k
            assert (m.header.stamp.sec, m.header.stamp.nanosec) == divmod(stamp, 1_000_000_000)
            assert m.header.frame_id == f"cam_{face}"
            assert m.expression == name
            assert m.confidence == pytest.approx(max(frame) / sum(frame), abs=1e-6)
            assert m.valence == valence[(face, stamp % 1_000_000_000)]  # the smoothed valence
            assert m.arousal == 0.0
    assert alice.msgs[0].valence > 0.3 and bob.msgs[0].valence < -0.3
    # Wire compatibility as the graph sees it: the real hri_msgs 2.3.2 type hash.
    [info] = ros_client.node.get_publishers_info_by_topic(topic("alice"))
    assert str(info.topic_type_hash) == EXPRESSION_HASH
    ros_client.destroy(alice)
    ros_client.destroy(bob)


def test_face_leaving_the_tracked_list_is_forgotten_at_once(hri, ros_client):
    session, msgs, tracked = hri
    tracked.publish(msgs.IdsList(ids=["carol", "dave"]))
    for k, face in enumerate(["carol", "dave"]):
        session.send(HAPPY, face_id=face, stamp_ns=BASE_STAMP_NS + 3000 + k)
    session.wait_valence("carol", 1)
    session.wait_valence("dave", 1)
    ros_client.wait_for(lambda: {topic("carol"), topic("dave")} <= _expression_topics_with_publishers(ros_client),
                        WAIT_TIMEOUT, "Expression publishers for carol and dave", session.process)
    unknown = session.msg.ValenceState.UNKNOWN
    assert all(m.state != unknown for m in session.states_of("carol"))
    tracked.publish(msgs.IdsList(ids=["dave"]))
    ros_client.wait_for(lambda: session.states_of("carol")[-1].state == unknown, 5,
                        "UNKNOWN for carol (face_timeout is an hour)", session.process)
    assert session.states_of("dave")[-1].state != unknown
    kv = session.latest_diagnostics(lambda kv: int(kv.get("hri_faces_left", 0)) >= 1)
    assert kv["hri_faces_left"] == "1"
    ros_client.wait_for(lambda: topic("carol") not in _expression_topics_with_publishers(ros_client),
                        WAIT_TIMEOUT, "carol's Expression publisher to disappear", session.process)
    assert topic("dave") in _expression_topics_with_publishers(ros_client)
    # carol starts afresh at her next frame: a first state again
    before = len(session.states_of("carol"))
    session.send(HAPPY, face_id="carol", stamp_ns=BASE_STAMP_NS + 3100)
    ros_client.wait_for(lambda: len(session.states_of("carol")) > before, WAIT_TIMEOUT,
                        "carol's state after she came back", session.process)


def test_face_id_that_is_no_topic_token_is_published_under_its_sanitised_name(hri, ros_client):
    session, msgs, _ = hri
    face_id = "face 7/é"
    token = "face_7_" + hashlib.sha1(face_id.encode()).hexdigest()[:8]
    session.send(HAPPY, face_id=face_id, stamp_ns=BASE_STAMP_NS + 4000)
    session.wait_valence(face_id, 1)
    collector = ros_client.collect(topic(token), msgs.Expression)
    ros_client.wait_matched(collector, process=session.process)
    session.send(HAPPY, face_id=face_id, stamp_ns=BASE_STAMP_NS + 4001)
    [m] = collector.wait_for(1, what="the sanitised topic's Expression")
    assert m.expression == msgs.Expression.HAPPY
    ros_client.destroy(collector)


def test_a_hundred_faces_leave_at_most_max_faces_publishers(hri, ros_client):
    session, _, _ = hri
    faces = [f"visitor_{i}" for i in range(100)]
    for i, face in enumerate(faces):
        session.send(SAD, face_id=face, stamp_ns=BASE_STAMP_NS + 5000 + i)
        if i % 10 == 9:
            session.wait_valence(face, 1)
            seen = int(session.latest_diagnostics()["hri_expression_publishers"])
            assert seen <= MAX_FACES
    session.wait_valence(faces[-1], 1)
    last = {topic(f) for f in faces[-MAX_FACES:]}
    ros_client.wait_for(lambda: _expression_topics_with_publishers(ros_client) == last, WAIT_TIMEOUT,
                        f"exactly the last {MAX_FACES} faces' Expression publishers", session.process)
    assert session.latest_diagnostics()["hri_expression_publishers"] == str(MAX_FACES)


@pytest.mark.parametrize("parameter, value", [("hri_expression", True),
                                              ("hri_tracked_faces_topic", TRACKED)])
def test_missing_hri_msgs_is_one_line_naming_it(node_process, parameter, value):
    process = node_process({parameter: value}, env=env_without_hri_msgs())
    assert process.wait_exit() == 2
    lines = process.stderr().strip().splitlines()
    assert len(lines) == 1, process.stderr()
    assert lines[0].startswith(f"valence_node: parameter '{parameter}'")
    assert "hri_msgs" in lines[0] and "ros-$ROS_DISTRO-hri-msgs" in lines[0]


def test_node_without_hri_msgs_runs_when_ros4hri_is_off(ros_client, node_process):
    process = node_process(RELIABLE_INPUT, env=env_without_hri_msgs())
    session = NodeSession(ros_client, process)
    try:
        session.send(HAPPY, face_id="solo", stamp_ns=BASE_STAMP_NS + 6000)
        assert session.wait_valence("solo", 1)[0].valence > 0.3
    finally:
        session.close()


def test_the_environment_without_hri_msgs_really_lacks_it():
    import subprocess
    import sys
    probe = subprocess.run([sys.executable, "-c", "import hri_msgs.msg"], env=env_without_hri_msgs(),
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "hri_msgs" in probe.stderr


def _publishers_on(client, name: str) -> int:
    return client.node.count_publishers(name)


def test_an_id_that_looks_like_a_sanitised_name_gets_its_own_topic(hri, ros_client):
    """Issue 22 item 14: "face 7" sanitises to face_7_f353fd7b; the literal id
    face_7_f353fd7b used to be kept as is: one topic, two publishers."""
    session, _, _ = hri
    from valence_ros.core.hri_expression import topic_token
    ids = ["face 7", "face_7_f353fd7b"]
    for k, face_id in enumerate(ids):
        session.send(HAPPY, face_id=face_id, stamp_ns=BASE_STAMP_NS + 7000 + k)
        session.wait_valence(face_id, 1)
    topics = [topic(topic_token(face_id)) for face_id in ids]
    assert topics[0] == topic("face_7_f353fd7b") and topics[0] != topics[1]
    ros_client.wait_for(lambda: all(_publishers_on(ros_client, t) == 1 for t in topics),
                        WAIT_TIMEOUT, "one Expression publisher on each topic", session.process)
    assert session.latest_diagnostics()["hri_expression_publishers"] == "2"


def test_ids_whose_sanitised_names_collide_never_share_a_topic(hri, ros_client):
    """The one documented limit (32-bit SHA-1 prefix collision): the second face gets
    no Expression while the first is tracked, counted as hri_topic_collisions."""
    from helpers.inputs import colliding_face_ids
    from valence_ros.core.hri_expression import topic_token
    session, _, _ = hri
    first, second = colliding_face_ids()
    shared = topic(topic_token(first))
    for k, face_id in enumerate([first, second, second]):
        session.send(HAPPY, face_id=face_id, stamp_ns=BASE_STAMP_NS + 8000 + k)
    session.wait_valence(second, 2)
    kv = session.latest_diagnostics(lambda kv: int(kv.get("hri_topic_collisions", 0)) >= 2)
    assert kv["hri_expression_publishers"] == "1"
    ros_client.wait_for(lambda: _publishers_on(ros_client, shared) == 1, WAIT_TIMEOUT,
                        "one publisher on the shared topic", session.process)


def test_over_long_ids_in_the_tracked_list_are_counted_not_kept(hri, ros_client):
    """Issue 22 item 15: the node kept the whole last IdsList (20,000 ids x 10 kB took it
    from 111 to 650 MB). Ids over MAX_ID_LENGTH cannot be a tracked face's: refused and
    counted (hri_ids_refused); a face leaving is still seen."""
    session, msgs, tracked = hri
    junk = [f"{i:04d}" + "x" * 10_000 for i in range(2_000)]   # a 20 MB list
    tracked.publish(msgs.IdsList(ids=junk + ["erin", "fred"]))
    for k, face in enumerate(["erin", "fred"]):
        session.send(HAPPY, face_id=face, stamp_ns=BASE_STAMP_NS + 9000 + k)
        session.wait_valence(face, 1)
    kv = session.latest_diagnostics(lambda kv: int(kv.get("hri_ids_refused", 0)) >= 2_000)
    assert kv["hri_ids_refused"] == "2000"
    tracked.publish(msgs.IdsList(ids=junk + ["fred"]))
    unknown = session.msg.ValenceState.UNKNOWN
    ros_client.wait_for(lambda: session.states_of("erin")[-1].state == unknown, WAIT_TIMEOUT,
                        "UNKNOWN for erin", session.process)
    assert session.states_of("fred")[-1].state != unknown
    kv = session.latest_diagnostics(lambda kv: int(kv.get("hri_ids_refused", 0)) >= 4_000)
    assert kv["hri_ids_refused"] == "4000" and kv["hri_faces_left"] == "1"
