"""Identical to live: a recorded bag replayed into the running node == valence_analyze on that bag.

The bag is written with rosbags. The replay does what `ros2 bag play` does (not
installable here, see ../shared/ros2-from-pip.md): it publishes each recorded
message's raw CDR bytes through an rclpy publisher at the recorded timing. The
INSTALLED node runs with the installed config/valence.yaml; the analyser gets the
same params file. Every Valence frame must match the tool's CSV within 1e-6 and
each face's ValenceState sequence must equal the tool's valence_state topic.
"""
from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from helpers.inputs import BASE_STAMP_NS
from helpers.install import installed_share_dir
from helpers.ros_clients import state_qos
from valence_ros.offline.bag_reader import typestore
from valence_ros.cdr import EMOTION_PROBABILITIES

pytestmark = pytest.mark.ros

STORE = typestore()
T = STORE.types
FER2013 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FERPLUS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
CANONICAL = ("neutral", "happy", "sad", "angry", "surprised", "scared", "disgusted")
OUT_OF_ORDER = 150   # alice's frame k=150 is stamped 50 ms early: older than her frame 149


def recorded_session(path, storage):
    """2 faces at 30 Hz for 8.5 s; moods swing (states change); bob leaves for 4.5 s.

    Live and offline agree only if the node sees the same expiries: with
    face_timeout 2 s, bob's absence is 2.5 s longer than it and the 33 ms
    frame gaps are ~2 s shorter, so a replay or node stall of up to ~2 s
    changes nothing. A few frames carry fer2013 labels, a few ferplus labels
    (contempt: unknown, dropped), one has an out-of-order stamp, a few are bad."""
    rng = np.random.default_rng(2024)
    events = []
    for k in range(255):
        for j, face in enumerate(("alice", "bob")):
            if face == "bob" and 75 <= k < 210:
                continue
            stamp = BASE_STAMP_NS + k * 33_333_333 + j * 3_000_000
            log = stamp + 4_000_000 + int(rng.integers(0, 2_000_000))
            mood = np.sin(k / 18.0 + 2.5 * j)
            p = rng.dirichlet(np.ones(7) * 0.5)
            p[1] += max(mood, 0) * 5
            p[2] += max(-mood, 0) * 5
            p = (p / p.sum()).astype(np.float32)
            labels = []
            if k % 40 == 11:                       # same frame, fer2013 order with labels
                labels = list(FER2013)
                p = p[[CANONICAL.index(n) for n in ("angry", "disgusted", "scared", "happy", "sad",
                                                     "surprised", "neutral")]]
            if k % 40 == 25:                       # ferplus order, 20 % of the mass on contempt
                labels = list(FERPLUS)
                p = np.append(p[[CANONICAL.index(n) for n in ("neutral", "happy", "surprised", "sad",
                                                               "angry", "disgusted", "scared")]] * 0.8,
                              0.2).astype(np.float32)
            if k % 70 == 33:
                p = p * np.float32(2.0)            # bad_sum: the node publishes nothing
            if face == "alice" and k == OUT_OF_ORDER:
                stamp -= 50_000_000                # published in order, stamped out of order
            msg = T[EMOTION_PROBABILITIES](
                header=T["std_msgs/msg/Header"](
                    stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9),
                    frame_id="head_camera"),
                face_id=face, labels=labels, probabilities=p)
            events.append((log, bytes(STORE.serialize_cdr(msg, EMOTION_PROBABILITIES))))
    events.sort()
    with Writer(path, version=9, storage_plugin=storage) as writer:
        conn = writer.add_connection("/emotion_probabilities", EMOTION_PROBABILITIES, typestore=STORE)
        for log, data in events:
            writer.write(conn, log, data)
    return path


# input_decoding: the default (cdr, the node decodes the raw bytes) with both storage
# formats, and rclpy's typed decoding once.
@pytest.mark.parametrize("storage, decoding", [(StoragePlugin.MCAP, "cdr"), (StoragePlugin.SQLITE3, "cdr"),
                                               (StoragePlugin.MCAP, "rclpy")],
                         ids=["mcap", "sqlite3", "mcap-rclpy-decoding"])
def test_replay_into_node_equals_analyzer(tmp_path, node_process, ros_client, storage, decoding):
    from rclpy.serialization import deserialize_message, serialize_message
    from valence_ros.offline.analyze import main as analyze

    msg = ros_client.msg
    bag = recorded_session(tmp_path / "session", storage)
    with Reader(bag) as reader:
        recorded = [(t, bytes(d)) for _, t, d in reader.messages()]
    # rclpy reads what we publish as the recorded message: its own serialisation of it
    # equals ours up to the alignment padding (Fast CDR leaves padding uninitialised)
    for _, data in recorded[:40]:
        again = bytes(serialize_message(deserialize_message(data, msg.EmotionProbabilities)))
        assert bytes(STORE.serialize_cdr(STORE.deserialize_cdr(again, EMOTION_PROBABILITIES),
                                         EMOTION_PROBABILITIES)) == data

    params_file = installed_share_dir() / "config" / "valence.yaml"
    # Reliable input QoS with a deep queue so a loaded test machine cannot drop a frame
    # in transport (a stalled replay catches up in a burst); it does not enter the
    # computation (the analyser reads the same params file).
    node = node_process({"input_qos_reliability": "reliable", "input_qos_depth": 1000,
                         "input_decoding": decoding}, params_file=params_file)
    valence = ros_client.collect(node.topic("valence"), msg.Valence)
    states = ros_client.collect(node.topic("valence_state"), msg.ValenceState, qos=state_qos())
    publisher = ros_client.publisher(node.topic("emotion_probabilities"), msg.EmotionProbabilities)
    for entity in (publisher, valence, states):
        ros_client.wait_matched(entity, process=node)

    # replay: raw CDR bytes at the recorded timing (what `ros2 bag play` does)
    start, first_log = time.monotonic(), recorded[0][0]
    for log, data in recorded:
        delay = start + (log - first_log) * 1e-9 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        publisher.publish(data)

    out = tmp_path / "analysis"
    assert analyze([str(bag), "--params-file", str(params_file), "--out", str(out), "-q", "--no-plots"]) == 0
    with open(out / "valence.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert 300 < len(rows) < len(recorded)            # some frames are rejected, by both
    ros_client.wait_for(lambda: len(valence) >= len(rows), what=f"{len(rows)} Valence messages",
                        process=node)
    time.sleep(0.5)                                    # nothing more may arrive
    live = list(valence.msgs)
    assert len(live) == len(rows), "the node published a different number of frames"

    for face in ("alice", "bob"):
        mine = [r for r in rows if r["face_id"] == face]
        theirs = [m for m in live if m.face_id == face]
        assert len(mine) == len(theirs) > 100
        for r, m in zip(mine, theirs):
            assert int(r["stamp_ns"]) == m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
            assert m.header.frame_id == "head_camera"
            assert abs(float(r["valence"]) - m.valence) <= 1e-6
            assert abs(float(r["raw_valence"]) - m.raw_valence) <= 1e-6

    # ValenceState: the same sequence per face. The node re-sends a face's latest state
    # when it would fall out of its transient-local history (a live-transport detail for
    # late joiners; none is expected with 2 faces); such repeats are dropped here.
    with AnyReader([out / "valence_bag"]) as reader:
        offline = [reader.deserialize(d, c.msgtype) for c, _, d in reader.messages()
                   if c.topic == "/valence_state"]
    seen = set()
    live_states = []
    for m in list(states.msgs):
        key = (m.face_id, m.header.stamp.sec, m.header.stamp.nanosec)
        if key not in seen:
            seen.add(key)
            live_states.append(m)
    # The node also announces a face it stops tracking as UNKNOWN (stamped on its clock):
    # bob, who is away for longer than face_timeout, between his last frame and his
    # restart (and, depending on how long the analysis above took, both faces at the
    # end). The offline outputs carry only the frames' states.
    UNKNOWN = msg.ValenceState.UNKNOWN
    bob = [m.state for m in live_states if m.face_id == "bob"]
    restart = next(i for i, m in enumerate(live_states) if m.face_id == "bob" and m.state != UNKNOWN
                   and m.header.stamp.sec * 10**9 + m.header.stamp.nanosec >= BASE_STAMP_NS + 210 * 33_333_333)
    assert [m.state for m in live_states[:restart] if m.face_id == "bob"][-1] == UNKNOWN
    assert bob.count(UNKNOWN) in (1, 2) and bob[0] != UNKNOWN
    live_states = [m for m in live_states if m.state != UNKNOWN]
    for face in ("alice", "bob"):
        a = [(m.header.stamp.sec, m.header.stamp.nanosec, m.state, round(m.valence, 6))
             for m in live_states if m.face_id == face]
        b = [(m.header.stamp.sec, m.header.stamp.nanosec, m.state, round(m.valence, 6))
             for m in offline if m.face_id == face]
        assert [x[:3] for x in a] == [x[:3] for x in b]
        assert all(abs(x[3] - y[3]) <= 2e-6 for x, y in zip(a, b))
        assert len(a) >= 4                              # first frame, bob's restart, changes
        # and the per-frame state column agrees with the live state sequence: a state
        # message comes with the frame (same stamp) whose state changed
        state, pending = None, [(s * 10**9 + ns, st) for s, ns, st, _ in a]
        for r in (r for r in rows if r["face_id"] == face):
            if pending and pending[0][0] == int(r["stamp_ns"]):
                state = pending.pop(0)[1]
            assert int(r["state"]) == state
        assert not pending

    # the scenario's special frames reached both: ferplus labels, an out-of-order stamp
    stamps = {face: [int(r["stamp_ns"]) for r in rows if r["face_id"] == face] for face in ("alice", "bob")}
    assert sum(np.diff(stamps["alice"]) < 0) == 1
    ferplus = {BASE_STAMP_NS + k * 33_333_333 for k in range(25, 255, 40)}
    assert ferplus <= set(stamps["alice"])
