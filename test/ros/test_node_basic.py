"""The installed node: wiring, label handling, faces, validation, diagnostics.

One node process serves every test here (installed config/valence.yaml plus
-p overrides: diagnostics every 0.2 s, and a RELIABLE input with depth 1000,
because these tests send bursts and must see every frame; the default
best-effort input is exercised in test_node_default_config.py). Each test
uses its own face_ids.
"""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY, NEUTRAL, SAD
from helpers.ros_clients import NodeSession

pytestmark = pytest.mark.ros

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "scared", "disgusted")
FER2013 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FERPLUS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


def reorder(canonical, labels):
    """Canonical-order probabilities re-ordered into `labels` order (aliases resolved)."""
    alias = {"disgust": "disgusted", "fear": "scared", "surprise": "surprised",
             "happiness": "happy", "sadness": "sad", "anger": "angry"}
    by_name = dict(zip(EMOTIONS, canonical))
    return [by_name.get(alias.get(label.lower(), label.lower()), 0.0) for label in labels]


@pytest.fixture(scope="module")
def session(ros_client, module_node_factory):
    process = module_node_factory({"diagnostics_period": 0.2, "input_qos_reliability": "reliable",
                                   "input_qos_depth": 1000})
    s = NodeSession(ros_client, process)
    yield s
    s.close()


def test_stamp_frame_and_face_id_preserved_and_sign(session):
    stamps = [BASE_STAMP_NS + 123_456_789, BASE_STAMP_NS + 223_456_789]
    session.send(HAPPY, face_id="alice", stamp_ns=stamps[0], frame_id="cam_left")
    session.send(SAD, face_id="bob", stamp_ns=stamps[1], frame_id="cam_right")
    alice = session.wait_valence("alice", 1)[0]
    bob = session.wait_valence("bob", 1)[0]
    assert (alice.header.stamp.sec, alice.header.stamp.nanosec) == divmod(stamps[0], 10**9)
    assert (bob.header.stamp.sec, bob.header.stamp.nanosec) == divmod(stamps[1], 10**9)
    assert alice.header.frame_id == "cam_left" and bob.header.frame_id == "cam_right"
    assert alice.raw_valence > 0.3 and alice.valence > 0.3, "clearly happy -> positive"
    assert bob.raw_valence < -0.3 and bob.valence < -0.3, "clearly sad -> negative"
    # A face's first frame starts the filter at its raw valence.
    assert alice.valence == alice.raw_valence and bob.valence == bob.raw_valence


def test_fer2013_order_via_message_labels_matches_canonical(session):
    for i, frame in enumerate((HAPPY, SAD, NEUTRAL)):
        session.send(frame, face_id=f"canon{i}", stamp_ns=BASE_STAMP_NS)
        session.send(reorder(frame, FER2013), labels=FER2013, face_id=f"fer{i}",
                     stamp_ns=BASE_STAMP_NS)
    for i in range(3):
        canon = session.wait_valence(f"canon{i}", 1)[0]
        fer = session.wait_valence(f"fer{i}", 1)[0]
        assert fer.raw_valence == pytest.approx(canon.raw_valence, abs=1e-6)
    assert session.valence_of("fer0")[0].raw_valence > 0.3
    assert session.valence_of("fer1")[0].raw_valence < -0.3


def test_label_names_are_case_insensitive_and_aliased(session):
    labels = ("HAPPINESS", "Sadness", "Anger", "fear", "Disgust", "Surprise", "NEUTRAL")
    session.send(reorder(HAPPY, labels), labels=labels, face_id="aliases", stamp_ns=BASE_STAMP_NS)
    session.send(HAPPY, face_id="aliases_ref", stamp_ns=BASE_STAMP_NS)
    got = session.wait_valence("aliases", 1)[0]
    ref = session.wait_valence("aliases_ref", 1)[0]
    assert got.raw_valence == pytest.approx(ref.raw_valence, abs=1e-6)


def test_ferplus_with_contempt_drops_and_renormalises(session):
    # Contempt carries 0.3 of the mass; the node drops it and renormalises the rest,
    # so the result equals the canonical frame scaled to sum 1.
    probabilities = [0.7 * p for p in reorder(HAPPY, FERPLUS[:7])] + [0.3]
    session.send(probabilities, labels=FERPLUS, face_id="ferplus", stamp_ns=BASE_STAMP_NS)
    session.send(HAPPY, face_id="ferplus_ref", stamp_ns=BASE_STAMP_NS)
    got = session.wait_valence("ferplus", 1)[0]
    ref = session.wait_valence("ferplus_ref", 1)[0]
    assert got.raw_valence == pytest.approx(ref.raw_valence, abs=1e-5)
    diag = session.latest_diagnostics(lambda kv: "contempt" in kv["unknown_labels"])
    assert "contempt" in diag["unknown_labels"].split(",")
    # One-time warning about the dropped label (not one per message).
    for _ in range(5):
        session.send(probabilities, labels=FERPLUS, face_id="ferplus", stamp_ns=BASE_STAMP_NS)
    session.wait_valence("ferplus", 6)
    assert session.process.stderr().count("unknown to the model") == 1


def test_missing_emotion_counts_as_zero(session):
    labels = ("happy", "sad", "neutral")
    session.send([0.9, 0.05, 0.05], labels=labels, face_id="partial", stamp_ns=BASE_STAMP_NS)
    session.send([0.05, 0.9, 0.05, 0, 0, 0, 0], face_id="partial_ref", stamp_ns=BASE_STAMP_NS)
    got = session.wait_valence("partial", 1)[0]
    ref = session.wait_valence("partial_ref", 1)[0]
    assert got.raw_valence == pytest.approx(ref.raw_valence, abs=1e-6)
    session.latest_diagnostics(lambda kv: "angry" in kv["missing_emotions"])


def test_two_interleaved_faces_never_mix(session):
    n = 30
    for i in range(n):
        stamp = BASE_STAMP_NS + i * 33_000_000
        session.send(HAPPY, face_id="mix_a", stamp_ns=stamp)
        session.send(SAD, face_id="mix_b", stamp_ns=stamp)
    a = session.wait_valence("mix_a", n)
    b = session.wait_valence("mix_b", n)
    assert all(m.valence > 0.3 and m.raw_valence > 0.3 for m in a)
    assert all(m.valence < -0.3 and m.raw_valence < -0.3 for m in b)
    # Each face's filter saw only its own constant input: its output is constant.
    assert len({m.valence for m in a}) == 1 and len({m.valence for m in b}) == 1
    states = {m.face_id: m.state for m in session.state.msgs if m.face_id in ("mix_a", "mix_b")}
    assert states == {"mix_a": session.msg.ValenceState.POSITIVE,
                      "mix_b": session.msg.ValenceState.NEGATIVE}


def test_rounding_error_renormalised(session):
    frame = np.asarray(HAPPY, dtype=np.float64) * 1.03  # sum 1.03, within sum_tolerance 0.05
    session.send(frame, face_id="rounding", stamp_ns=BASE_STAMP_NS)
    session.send(HAPPY, face_id="rounding_ref", stamp_ns=BASE_STAMP_NS)
    got = session.wait_valence("rounding", 1)[0]
    ref = session.wait_valence("rounding_ref", 1)[0]
    assert got.raw_valence == pytest.approx(ref.raw_valence, abs=1e-5)


INVALID = {
    "wrong_length": ([0.5, 0.5], ()),
    "non_finite": ([math.nan, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01], ()),
    "negative": ([-0.1, 1.0, 0.02, 0.02, 0.02, 0.03, 0.03], ()),
    "zero_sum": ([0.0] * 7, ()),
    "bad_sum": ([0.5] * 7, ()),
    "bad_labels": ([0.5, 0.5], ("foo", "bar")),
    "no_known_emotion": ([0.0, 1.0], ("happy", "contempt")),
}


def test_invalid_messages_counted_by_reason_while_node_keeps_answering(session):
    before = session.latest_diagnostics()
    # The status whose period holds the last reject may arrive before the wait below
    # ends (a loaded machine): search from here, not from the wait's end.
    mark = len(session.diagnostics)
    for _reason, (probabilities, labels) in INVALID.items():
        session.send(probabilities, labels=labels, face_id="invalid", stamp_ns=BASE_STAMP_NS)
        session.send([math.inf] + [0.0] * 6, face_id="invalid", stamp_ns=BASE_STAMP_NS)
    session.send(HAPPY, face_id="after_invalid", stamp_ns=BASE_STAMP_NS)
    assert session.wait_valence("after_invalid", 1)[0].raw_valence > 0.3

    def counted(kv):
        return all(int(kv[f"rejected_{r}"]) >= int(before[f"rejected_{r}"]) + (
            1 + len(INVALID) if r == "non_finite" else 1) for r in INVALID)

    diag = session.latest_diagnostics(counted, since=mark)
    assert diag["level"] == 1, "rejects in the window -> WARN"
    assert session.valence_of("invalid") == [], "nothing published for a rejected frame"
    assert session.process.running()
    # Throttled: one warning per reason in this burst, not one per message.
    assert session.process.stderr().count("): non_finite") == 1


def expected_reject(probabilities, labels) -> str | None:
    """The node's verdict on a frame (its label cache and validation, default parameters)."""
    from valence_ros.core.labels import LabelError, LabelMapCache
    from valence_ros.core.parameters import DEFAULTS, input_labels_of
    from valence_ros.core.preprocessing import to_canonical
    try:
        label_map = LabelMapCache(input_labels_of(DEFAULTS)).get(labels)
    except LabelError:
        return "bad_labels"
    values = np.asarray(probabilities, dtype=np.float32)   # the message field is float32[]
    with np.errstate(invalid="ignore", over="ignore"):     # inf - inf in the sum
        return to_canonical(values, label_map, float(DEFAULTS["sum_tolerance"]))[1]


def test_random_garbage_burst_never_publishes_nan_or_crashes(session):
    rng = random.Random(1234)
    specials = [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e30, -1e-30, 3.4e38]
    label_pool = list(EMOTIONS) + ["contempt", "HAPPY", "", "x" * 300, "fear", "joy"]
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    # a publisher whose history holds the whole burst: exact counts need every frame delivered
    publisher = session.client.publisher(session.process.topic("emotion_probabilities"),
                                         qos=QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
    session.client.wait_matched(publisher, process=session.process)
    before = session.latest_diagnostics()
    good = 0
    rejects = dict.fromkeys(INVALID, 0)
    for i in range(200):
        kind = rng.random()
        if kind < 0.3:
            probabilities = list(HAPPY if rng.random() < 0.5 else SAD)
            labels = ()
        else:
            n = rng.randint(0, 12)
            probabilities = [rng.choice(specials) if rng.random() < 0.3 else rng.random()
                             for _ in range(n)]
            labels = tuple(rng.choice(label_pool) for _ in range(rng.choice([0, n, n + 1])))
        reason = expected_reject(probabilities, labels)
        if reason is None:
            good += 1
        else:
            rejects[reason] += 1
        publisher.publish(session.client.emotion(probabilities, labels, f"garbage{i % 3}",
                                                 BASE_STAMP_NS + rng.randint(-10**9, 10**9)))
    assert good >= 50 and sum(v > 0 for v in rejects.values()) >= 5   # the mix covers both
    publisher.publish(session.client.emotion(HAPPY, (), "after_garbage", BASE_STAMP_NS))
    session.wait_valence("after_garbage", 1)   # frames are handled in order: all 200 are done
    session.client.destroy(publisher)
    out = [m for m in session.valence.msgs if m.face_id.startswith("garbage")]
    assert len(out) == good, "one Valence per valid frame"
    for m in out:
        assert math.isfinite(m.valence) and math.isfinite(m.raw_valence)
        assert -1.0 <= m.valence <= 1.0 and -1.0 <= m.raw_valence <= 1.0
    for m in session.state.msgs:
        assert math.isfinite(m.valence)
    # every invalid frame counted under its reason, nothing else
    rejected = sum(rejects.values())
    diag = session.latest_diagnostics(
        lambda kv: int(kv["rejected_total"]) >= int(before["rejected_total"]) + rejected)
    for reason in (*INVALID, "non_finite_output"):
        assert int(diag[f"rejected_{reason}"]) - int(before[f"rejected_{reason}"]) == rejects.get(reason, 0), reason
    assert int(diag["rejected_total"]) - int(before["rejected_total"]) == rejected
    assert session.process.running()


def test_out_of_order_stamp_counted_and_valence_unchanged(session):
    before = int(session.latest_diagnostics()["out_of_order"])
    t = BASE_STAMP_NS + 50 * 10**9
    session.send(HAPPY, face_id="ooo", stamp_ns=t)
    session.send(SAD, face_id="ooo", stamp_ns=t + 100_000_000)
    first = session.wait_valence("ooo", 2)
    session.send(HAPPY, face_id="ooo", stamp_ns=t + 50_000_000)  # older than the last one
    late = session.wait_valence("ooo", 3)[2]
    assert late.valence == first[1].valence, "the filter keeps its value"
    assert late.raw_valence > 0.3, "the frame's own raw valence is still reported"
    assert (late.header.stamp.sec, late.header.stamp.nanosec) == divmod(t + 50_000_000, 10**9)
    diag = session.latest_diagnostics(lambda kv: int(kv["out_of_order"]) >= before + 1)
    assert int(diag["out_of_order"]) == before + 1


def test_diagnostics_keys_and_rates(session):
    for i in range(10):
        session.send(NEUTRAL, face_id="diag", stamp_ns=BASE_STAMP_NS + i * 10**8)
    session.wait_valence("diag", 10)
    diag = session.latest_diagnostics(lambda kv: True)
    for key in ("input_rate_hz", "output_rate_hz", "latency_ms_p50", "latency_ms_max",
                "active_faces", "expired_faces", "evicted_faces", "out_of_order", "model",
                "input_type", "unknown_labels", "missing_emotions", "rejected_total",
                "messages_received", "valence_published"):
        assert key in diag, key
    assert diag["model"] == "shipped default"
    assert diag["input_type"] == "emotion_probabilities"
    assert int(diag["active_faces"]) >= 1
    assert float(diag["latency_ms_max"]) >= float(diag["latency_ms_p50"]) >= 0.0


def test_same_frames_at_two_rates_give_identical_smoothed_output(session):
    """Smoothing follows header stamps: the same stamped frames, published at
    ~20 Hz and as a burst, give bit-identical valence (the default time constant
    0.5 s is on)."""
    import time
    rng = random.Random(7)
    frames = [HAPPY if rng.random() < 0.5 else (SAD if rng.random() < 0.5 else NEUTRAL)
              for _ in range(40)]
    stamps = [BASE_STAMP_NS + i * 33_333_333 for i in range(len(frames))]
    for frame, stamp in zip(frames, stamps):
        session.send(frame, face_id="rate_slow", stamp_ns=stamp)
        time.sleep(0.05)
    for frame, stamp in zip(frames, stamps):
        session.send(frame, face_id="rate_burst", stamp_ns=stamp)
    slow = session.wait_valence("rate_slow", len(frames))
    burst = session.wait_valence("rate_burst", len(frames))
    assert [m.valence for m in slow] == [m.valence for m in burst]
    assert [m.raw_valence for m in slow] == [m.raw_valence for m in burst]
    assert any(m.valence != m.raw_valence for m in slow), "smoothing is active"
