"""valence_fer_node, input_mode ros4hri, over real DDS with the hri_msgs fixture (the real
package on a ROS4HRI install): this test process plays hri_face_detect, publishing
/humans/faces/tracked (hri_msgs/IdsList) and per-face crops of real photographs on
/humans/faces/<id>/aligned (scikit-image's astronaut.png, smiling; matplotlib's
grace_hopper.jpg, neutral).
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from helpers.install import env_without_hri_msgs, require_hri_msgs
from fer_helpers import FER_LABELS, fer_statuses, image_msg, stamp_ns_of, start_fer

pytestmark = pytest.mark.ros

TRACKED = "/humans/faces/tracked"


def crop_topic(face_id: str, crop: str = "aligned") -> str:
    return f"/humans/faces/{face_id}/{crop}"


@pytest.fixture(scope="module")
def crops():
    """The face boxes of the photographs, cut as hri_face_detect publishes a face (BGR)."""
    from valence_ros.fer.sample_faces import SAMPLE_FACES, load_sample_face
    cut = {}
    for name in ("astronaut", "grace_hopper"):
        x, y, w, h = SAMPLE_FACES[name][2]
        cut[name] = np.ascontiguousarray(load_sample_face(name)[y:y + h, x:x + w])
    return cut


@pytest.fixture
def ros4hri(ros_client, node_process):
    msgs = require_hri_msgs()
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    fer = start_fer(node_process, {"input_mode": "ros4hri", "ros4hri_max_ids": 8,
                                   "diagnostics_period": 0.2})
    tracked = ros_client.publisher(TRACKED, msgs.IdsList,
                                   QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    probabilities = ros_client.collect("/emotion_probabilities", ros_client.msg.EmotionProbabilities)
    diagnostics = ros_client.collect("/diagnostics", DiagnosticArray)
    ros_client.wait_matched(tracked, process=fer)
    ros_client.wait_matched(probabilities, process=fer)
    yield fer, msgs, tracked, probabilities, diagnostics
    for entity in (tracked, probabilities, diagnostics):
        ros_client.destroy(entity)


def _ids(msgs, ids):
    return msgs.IdsList(ids=list(ids))


def test_two_tracked_ids_give_two_face_ids_and_a_leaving_id_loses_its_subscription(
        ros_client, ros4hri, crops):
    from sensor_msgs.msg import Image
    fer, msgs, tracked, probabilities, _ = ros4hri
    tracked.publish(_ids(msgs, ["abcde", "fghij"]))
    crop_pubs = {face: ros_client.publisher(crop_topic(face), Image) for face in ("abcde", "fghij")}
    for publisher in crop_pubs.values():
        ros_client.wait_matched(publisher, process=fer)   # the node subscribed to both
    faces = {"abcde": "astronaut", "fghij": "grace_hopper"}
    sent = {}

    def both_classified():
        for face, publisher in crop_pubs.items():
            stamp = time.time_ns()
            sent[stamp] = face
            publisher.publish(image_msg(crops[faces[face]], stamp, frame_id=f"cam_{face}"))
        time.sleep(0.05)
        return {m.face_id for m in probabilities.msgs} == {"abcde", "fghij"}
    ros_client.wait_for(both_classified, what="EmotionProbabilities for both ids", process=fer)
    for m in list(probabilities.msgs):
        assert sent[stamp_ns_of(m.header)] == m.face_id and m.header.frame_id == f"cam_{m.face_id}"
        assert list(m.labels) == FER_LABELS
        top = FER_LABELS[int(np.argmax(m.probabilities))]
        assert top == ("happy" if faces[m.face_id] == "astronaut" else "neutral"), (m.face_id, top)

    # fghij leaves the tracked list: its subscription is destroyed, abcde's stays
    tracked.publish(_ids(msgs, ["abcde"]))
    ros_client.wait_for(lambda: crop_pubs["fghij"].get_subscription_count() == 0,
                        what="fghij's crop subscription destroyed", process=fer)
    ros_client.wait_for(lambda: ros_client.node.count_subscribers(crop_topic("fghij")) == 0,
                        what="no subscriber of fghij's crops in the graph", process=fer)
    assert crop_pubs["abcde"].get_subscription_count() == 1
    assert ros_client.node.count_subscribers(crop_topic("abcde")) == 1
    for publisher in crop_pubs.values():
        ros_client.destroy(publisher)


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_a_thousand_ids_coming_and_going_stay_bounded(ros_client, ros4hri):
    """1,000 distinct ids pass through the tracked list (5 at a time, sliding), plus ids
    that are too long or no topic token: at most ros4hri_max_ids subscriptions at any
    time, every one destroyed when its id leaves, memory flat after the first hundred."""
    fer, msgs, tracked, _, diagnostics = ros4hri
    pid = fer.popen.pid

    def settle(lists: int):
        ros_client.wait_for(lambda: any(int(s.get("ros4hri_lists", "0")) >= lists
                                        for s in fer_statuses(fer, diagnostics.msgs)),
                            what=f"{lists} tracked lists handled", process=fer)

    def run(first: int, last: int, sent: int) -> int:
        for k in range(first, last):
            ids = [f"id{j}" for j in range(k, k + 5)]
            if k % 50 == 0:
                ids += ["x" * 65, "not a token", "7abc"]   # refused, never subscribed
            tracked.publish(_ids(msgs, ids))
            sent += 1
            time.sleep(0.004)   # reliable, depth 10: do not outrun the node's history
            if sent % 8 == 0:
                settle(sent)
        return sent

    sent = run(0, 100, 0)
    settle(sent)
    rss_100 = _rss_kib(pid)
    sent = run(100, 996, sent)
    tracked.publish(_ids(msgs, []))
    sent += 1
    settle(sent)
    rss_1000 = _rss_kib(pid)
    ros_client.wait_for(lambda: fer_statuses(fer, diagnostics.msgs)[-1]["ros4hri_ids_subscribed"] == "0",
                        what="no subscription left", process=fer)
    status = fer_statuses(fer, diagnostics.msgs)[-1]
    created, destroyed = int(status["ros4hri_subscriptions_created"]), int(status["ros4hri_subscriptions_destroyed"])
    assert created == destroyed >= 1000, status
    assert int(status["ros4hri_ids_refused_invalid"]) == 3 * 20, status
    assert all(int(s["ros4hri_ids_subscribed"]) <= 8 for s in fer_statuses(fer, diagnostics.msgs))
    assert ros_client.node.count_subscribers(crop_topic("id500")) == 0
    # ~900 subscriptions created and destroyed after the first hundred lists: a leak of a
    # few KiB each would show as several MiB
    print(f"[fer ros4hri] RSS after 100 lists {rss_100} KiB, after 1001 lists {rss_1000} KiB; "
          f"{created} subscriptions created and destroyed")
    assert rss_1000 - rss_100 < 8 * 1024, (rss_100, rss_1000)


def test_more_ids_than_the_limit_are_refused_and_counted(ros_client, ros4hri):
    fer, msgs, tracked, _, diagnostics = ros4hri
    tracked.publish(_ids(msgs, [f"face{k}" for k in range(12)]))
    ros_client.wait_for(lambda: any(s.get("ros4hri_ids_refused_over_limit") == "4"
                                    for s in fer_statuses(fer, diagnostics.msgs)),
                        what="4 ids over the limit of 8", process=fer)
    status = fer_statuses(fer, diagnostics.msgs)[-1]
    assert status["ros4hri_ids_subscribed"] == "8"
    assert ros_client.node.count_subscribers(crop_topic("face7")) == 1
    assert ros_client.node.count_subscribers(crop_topic("face8")) == 0


def test_hostile_crops_are_counted_rejects(ros_client, ros4hri, crops):
    from sensor_msgs.msg import Image
    fer, msgs, tracked, probabilities, diagnostics = ros4hri
    tracked.publish(_ids(msgs, ["abcde"]))
    publisher = ros_client.publisher(crop_topic("abcde"), Image)
    ros_client.wait_matched(publisher, process=fer)
    bad = Image(encoding="bgr8", width=96, height=96, step=288)
    bad.data = b"\0" * 10

    def counted():
        publisher.publish(bad)
        time.sleep(0.05)
        statuses = fer_statuses(fer, diagnostics.msgs)
        return bool(statuses) and int(statuses[-1].get("rejected_short_data", "0")) >= 1
    ros_client.wait_for(counted, what="rejected_short_data", process=fer)

    def classified():
        publisher.publish(image_msg(crops["astronaut"], time.time_ns()))
        time.sleep(0.05)
        return len(probabilities) >= 1
    ros_client.wait_for(classified, what="a good crop classified after the bad one", process=fer)
    ros_client.destroy(publisher)


def test_missing_hri_msgs_is_one_line(node_process):
    process = start_fer(node_process, {"input_mode": "ros4hri"}, env=env_without_hri_msgs())
    assert process.wait_exit() == 2, process.output()[-2000:]
    lines = process.stderr().strip().splitlines()
    assert len(lines) == 1, process.stderr()
    assert lines[0].startswith("valence_fer_node: parameter 'input_mode' = 'ros4hri' needs the "
                               "ROS4HRI message package hri_msgs")
