"""Input variants: label order from the input_labels parameter, Float32MultiArray input.

Two node processes in their own namespaces: /fer (EmotionProbabilities without
labels, input_labels [fer2013]) and /array (std_msgs/Float32MultiArray,
input_labels [fer2013]).
"""
from __future__ import annotations

import time

import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY, NEUTRAL, SAD
from helpers.ros_clients import NodeSession, statuses_of

pytestmark = pytest.mark.ros

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "scared", "disgusted")
FER2013 = ("angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral")


def fer2013_order(canonical):
    by_name = dict(zip(EMOTIONS, canonical))
    return [by_name[label] for label in FER2013]


@pytest.fixture(scope="module")
def fer(ros_client, module_node_factory):
    process = module_node_factory({"input_labels": ["fer2013"], "diagnostics_period": 0.2,
                                   "input_qos_reliability": "reliable", "input_qos_depth": 100},
                                  namespace="/fer")
    s = NodeSession(ros_client, process)
    yield s
    s.close()


def test_fer2013_order_via_input_labels_parameter(fer):
    for i, frame in enumerate((HAPPY, SAD, NEUTRAL)):
        fer.send(fer2013_order(frame), face_id=f"param{i}", stamp_ns=BASE_STAMP_NS)
        # Labels in the message still win over the parameter.
        fer.send(frame, labels=EMOTIONS, face_id=f"msg{i}", stamp_ns=BASE_STAMP_NS)
    got = [fer.wait_valence(f"param{i}", 1)[0].raw_valence for i in range(3)]
    ref = [fer.wait_valence(f"msg{i}", 1)[0].raw_valence for i in range(3)]
    assert got == pytest.approx(ref, abs=1e-6)
    assert got[0] > 0.3 and got[1] < -0.3
    kv = fer.latest_diagnostics()
    assert kv["default_labels"] == ",".join(
        ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))


def test_canonical_order_frame_is_misread_without_labels(fer):
    """Guard that the parameter really applies: a canonical-order HAPPY frame read in
    FER2013 order is not happy (index 1 is 'disgust' there)."""
    fer.send(HAPPY, face_id="misread", stamp_ns=BASE_STAMP_NS)
    assert fer.wait_valence("misread", 1)[0].raw_valence < 0.3


@pytest.fixture   # its own node: a retried test must not meet the first attempt's messages
def array(ros_client, node_process):
    process = node_process({"input_type": "float32_multi_array", "input_labels": ["fer2013"],
                                   "diagnostics_period": 0.2, "input_qos_reliability": "reliable",
                                   "input_qos_depth": 100}, namespace="/array")
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float32MultiArray
    valence = ros_client.collect("/array/valence", ros_client.msg.Valence)
    diagnostics = ros_client.collect("/diagnostics", DiagnosticArray)
    publisher = ros_client.publisher("/array/emotion_probabilities", Float32MultiArray)
    ros_client.wait_matched(publisher, process=process)
    ros_client.wait_matched(valence, process=process)
    # As NodeSession does: the node's first diagnostics prove its writers matched our readers.
    ros_client.wait_for(lambda: bool(statuses_of(process, diagnostics.msgs)),
                        what="the node's first /diagnostics", process=process)
    yield process, publisher, valence, diagnostics
    for entity in (valence, diagnostics, publisher):
        ros_client.destroy(entity)


def test_float32_multi_array_input(ros_client, array):
    from std_msgs.msg import Float32MultiArray
    process, publisher, valence, diagnostics = array
    before_ns = time.time_ns()
    publisher.publish(Float32MultiArray(data=fer2013_order(HAPPY)))
    publisher.publish(Float32MultiArray(data=fer2013_order(SAD)))
    publisher.publish(Float32MultiArray(data=[0.5, 0.5]))  # wrong length: rejected, counted
    publisher.publish(Float32MultiArray(data=fer2013_order(SAD)))
    msgs = valence.wait_for(3)
    after_ns = time.time_ns()
    assert len(msgs) == 3
    assert msgs[0].raw_valence > 0.3 and msgs[1].raw_valence < -0.3
    for m in msgs:
        assert m.face_id == "" and m.header.frame_id == ""
        stamp = m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
        # Stamp = receive time on the node clock (system time here, same machine).
        assert before_ns <= stamp <= after_ns
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]
    assert stamps == sorted(stamps)

    def rejected(_):
        for s in statuses_of(process, diagnostics.msgs):
            kv = {v.key: v.value for v in s.values}
            if kv["rejected_wrong_length"] == "1" and kv["input_type"] == "float32_multi_array":
                return True
        return False
    diagnostics.wait_for(rejected, what="wrong_length counted")
