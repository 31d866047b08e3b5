"""input_decoding: cdr (raw subscription, pre-serialised Valence) == rclpy decoding, and garbage-proof.

Two installed nodes, one per decoding, receive the same serialised frames (written with
rosbags, then patched where a typed rclpy publisher could not produce them: invalid
UTF-8, embedded NULs, big-endian CDR, uninitialised-looking padding). Every Valence and
ValenceState they publish must be identical field for field. Then bytes that are not
EmotionProbabilities at all go to the cdr node: each is counted as rejected_undecodable,
nothing is published for it, the node keeps running and answers the next good frame.
"""
from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY
from helpers.ros_clients import NodeSession
from valence_ros.cdr import EMOTION_PROBABILITIES, decode_replacing
from valence_ros.offline.bag_reader import typestore

pytestmark = pytest.mark.ros

STORE = typestore()
T = STORE.types
FER2013 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FERPLUS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
RELIABLE_DEEP = {"input_qos_reliability": "reliable", "input_qos_depth": 1000, "diagnostics_period": 0.2}


def serialised(stamp_ns, face_id, probabilities, labels=(), frame_id="camera", little_endian=True) -> bytes:
    msg = T[EMOTION_PROBABILITIES](
        header=T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
            frame_id=frame_id),
        face_id=face_id, labels=list(labels), probabilities=np.asarray(probabilities, dtype=np.float32))
    return bytes(STORE.serialize_cdr(msg, EMOTION_PROBABILITIES, little_endian=little_endian))


def frames() -> list[bytes]:
    """A mixed stream: 3 faces, three label orders, bad frames, odd strings and encodings."""
    rng = np.random.default_rng(7)
    out = []
    for k in range(120):
        face = ("ana", "ben", "cy")[k % 3]
        p = rng.dirichlet(np.ones(7) * 0.4)
        labels = ()
        if k % 10 == 4:
            labels, p = FER2013, rng.dirichlet(np.ones(7))
        elif k % 10 == 7:
            labels, p = FERPLUS, rng.dirichlet(np.ones(8))
        if k % 17 == 5:
            p = p * 3.0                                   # bad_sum
        if k % 23 == 9:
            p = np.append(p, 0.0)                          # wrong_length
        stamp = BASE_STAMP_NS + k * 33_333_333
        data = serialised(stamp, face, p, labels, little_endian=(k % 19 != 3))
        if k % 13 == 6 and data[:2] == b"\x00\x01":
            # frame_id "camera" -> "cam\xffra" (invalid UTF-8) and a padding byte set
            data = data.replace(b"camera\0", b"cam\xffra\0", 1)
            data = data[:23] + b"\x5a" + data[24:]
        if k % 29 == 11:
            data = data.replace(face.encode() + b"\0", face[:1].encode() + b"\0" + face[2:].encode() + b"\0", 1)
        out.append(data)
    return out


@pytest.fixture(scope="module")
def pair(ros_client, module_node_factory):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    sessions = {}
    for decoding in ("cdr", "rclpy"):
        process = module_node_factory({**RELIABLE_DEEP, "input_decoding": decoding},
                                      namespace=f"/dec_{decoding}")
        s = sessions[decoding] = NodeSession(ros_client, process)
        # a publisher whose history holds a whole burst: every frame must be delivered
        s.burst = ros_client.publisher(process.topic("emotion_probabilities"),
                                       qos=QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        ros_client.wait_matched(s.burst, process=process)
    yield sessions
    for s in sessions.values():
        ros_client.destroy(s.burst)
        s.close()


def fields(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id, msg.face_id,
            struct.pack("<ff", msg.valence, msg.raw_valence) if hasattr(msg, "raw_valence")
            else (msg.state, struct.pack("<f", msg.valence)))


def test_cdr_decoding_publishes_exactly_what_rclpy_decoding_publishes(pair):
    stream = frames()
    for data in stream:
        for s in pair.values():
            s.burst.publish(data)
    for s in pair.values():
        s.burst.publish(serialised(BASE_STAMP_NS, "end_of_stream", HAPPY))
        s.wait_valence("end_of_stream", 1)
    cdr, typed = ([fields(m) for m in pair[d].valence.msgs] for d in ("cdr", "rclpy"))
    assert 80 < len(cdr) < len(stream)          # bad frames are rejected, by both
    assert cdr == typed
    assert any(f[2] == "cam\ufffdra" for f in cdr), "invalid UTF-8 decoded as rclpy does"
    assert any(f[3] == "a" for f in cdr), "a string cut at its embedded NUL, as rclpy does"
    states = [[fields(m) for m in pair[d].state.msgs] for d in ("cdr", "rclpy")]
    assert states[0] == states[1] and len(states[0]) >= 3
    diag = {d: pair[d].latest_diagnostics(lambda kv: int(kv["messages_received"]) >= len(stream) + 1)
            for d in pair}
    for key in ("valence_published", "state_published", "rejected_total", "rejected_bad_sum",
                "rejected_wrong_length", "out_of_order"):
        assert diag["cdr"][key] == diag["rclpy"][key], key
    assert diag["cdr"]["input_decoding"] == "cdr" and diag["rclpy"]["input_decoding"] == "rclpy"


def garbage(rng: random.Random) -> list[bytes]:
    """Byte strings the reference decoder rejects: truncations, flips, random bytes.
    (Not the empty payload: Fast DDS itself never delivers one, and on a reliable
    connection it stalls the stream for every decoding alike.)"""
    good = serialised(BASE_STAMP_NS, "g", HAPPY, FER2013)
    out = [b"\x01", b"\x00\x01\x00\x00", good[:-1], good[:-30], good[:17], good + bytes(8),
           b"\x00\x01\x00\x00" + b"\xff" * 60, b"\x01\x00\x00\x00" + good[4:]]
    while len(out) < 60:
        data = bytearray(good if rng.random() < 0.7 else bytes(rng.randrange(1, 90)))
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        out.append(bytes(data))
    def rejected(data):
        try:
            decode_replacing(data, EMOTION_PROBABILITIES)
        except (ValueError, struct.error):
            return True
        return False
    # DDS pads a payload to a multiple of 4 bytes on the way: both forms must be bad
    return [d for d in out if rejected(d) and rejected(d + bytes(-len(d) % 4))]


def test_undecodable_bytes_are_counted_never_published_and_the_node_carries_on(pair):
    s = pair["cdr"]
    bad = garbage(random.Random(99))
    assert len(bad) >= 30
    before = s.latest_diagnostics()
    published = len(s.valence)
    for data in bad:
        s.burst.publish(data)
    s.burst.publish(serialised(BASE_STAMP_NS, "after_garbage", HAPPY))
    s.wait_valence("after_garbage", 1)
    new = [(m.face_id, m.header.stamp.sec, m.header.stamp.nanosec) for m in s.valence.msgs[published:]]
    assert [f[0] for f in new] == ["after_garbage"], new
    diag = s.latest_diagnostics(lambda kv: int(kv["rejected_undecodable"]) >= len(bad))
    assert int(diag["rejected_undecodable"]) - int(before["rejected_undecodable"]) == len(bad)
    assert diag["level"] == 1 and "undecodable" in diag["message"]
    assert s.process.running()
    assert "undecodable" in s.process.stderr() + s.process.stdout()   # one throttled warning
