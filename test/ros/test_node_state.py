"""Behaviour-tree state: hysteresis, transient-local latching, runtime parameters.

One node process with smoothing off (so a frame's valence is its raw valence),
max_faces 3 (valence_state history depth 6) and a long face_timeout. Frames
with a chosen raw valence are built with the shipped model itself
(FastRegressor on the same float32 canonical vector the node computes).
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY, NEUTRAL, SAD
from helpers.ros_clients import NodeSession, state_qos

pytestmark = pytest.mark.ros


@functools.lru_cache(maxsize=None)
def _model():
    from valence_ros.model.fast_inference import FastRegressor
    return FastRegressor.load()


def predicted_raw(frame) -> float:
    from valence_ros.core.labels import resolve_labels
    from valence_ros.core.preprocessing import to_canonical
    vector, reason = to_canonical(np.asarray(frame, dtype=np.float32), resolve_labels(()), 0.05)
    assert reason is None
    return max(-1.0, min(1.0, _model().predict_one(vector)))


@functools.lru_cache(maxsize=None)
def frame_with_raw(target: float) -> tuple[float, ...]:
    """A mixture of NEUTRAL with HAPPY (target > 0) or SAD whose raw valence is
    within 0.01 of target (bisection on the mixing weight)."""
    other = np.asarray(HAPPY if target > 0 else SAD, dtype=np.float64)
    neutral = np.asarray(NEUTRAL, dtype=np.float64)

    def raw(w):
        mix = tuple(float(x) for x in w * other + (1 - w) * neutral)
        return predicted_raw(mix), mix

    lo, hi = 0.0, 1.0
    sign = 1.0 if target > 0 else -1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        value, mix = raw(mid)
        if abs(value - target) < 0.01:
            return mix
        if sign * value < sign * target:
            lo = mid
        else:
            hi = mid
    pytest.fail(f"no HAPPY/SAD-NEUTRAL mixture gives raw valence {target} with the shipped model")


@pytest.fixture(scope="module")
def session(ros_client, module_node_factory):
    process = module_node_factory({
        "smoothing_time_constant": 0.0, "max_faces": 3, "face_timeout": 600.0,
        "diagnostics_period": 0.2, "input_qos_reliability": "reliable", "input_qos_depth": 1000})
    s = NodeSession(ros_client, process)
    yield s
    s.close()


def states(session, face_id):
    return [m.state for m in session.states_of(face_id)]


def test_state_transitions_with_hysteresis(session):
    S = session.msg.ValenceState
    # positive_threshold 0.3, negative_threshold -0.3, hysteresis 0.1 (defaults)
    sequence = [0.0, 0.35, 0.25, 0.15, 0.25, 0.35, -0.35, -0.25, -0.15]
    expected_states = [S.NEUTRAL, S.POSITIVE, S.NEUTRAL, S.POSITIVE, S.NEGATIVE, S.NEUTRAL]
    for i, target in enumerate(sequence):
        session.send(frame_with_raw(target), face_id="hyst", stamp_ns=BASE_STAMP_NS + i * 10**8)
    out = session.wait_valence("hyst", len(sequence))
    assert [m.raw_valence for m in out] == pytest.approx(sequence, abs=0.011)
    assert [m.valence for m in out] == [m.raw_valence for m in out], "smoothing is off"
    session.client.wait_for(lambda: len(states(session, "hyst")) >= len(expected_states),
                            what="state messages", process=session.process)
    assert states(session, "hyst") == expected_states
    # Each state message carries the header of the frame that caused it.
    changed_at = [0, 1, 3, 5, 6, 8]
    assert [m.header.stamp.nanosec for m in session.states_of("hyst")] == \
        [(BASE_STAMP_NS + i * 10**8) % 10**9 for i in changed_at]


def test_late_joining_subscriber_receives_latched_state_of_every_face(session, ros_client):
    S = session.msg.ValenceState
    session.send(frame_with_raw(0.35), face_id="quiet", stamp_ns=BASE_STAMP_NS)
    session.wait_valence("quiet", 1)
    # "busy" changes state 10 times: more messages than the history depth (6).
    for i in range(10):
        session.send(frame_with_raw(0.35 if i % 2 else -0.35), face_id="busy",
                     stamp_ns=BASE_STAMP_NS + (i + 1) * 10**8)
    session.wait_valence("busy", 10)
    session.client.wait_for(lambda: len(states(session, "busy")) >= 10, what="busy states",
                            process=session.process)

    late = ros_client.collect(session.process.topic("valence_state"), S, qos=state_qos())
    try:
        late.wait_for(lambda msgs: {m.face_id for m in msgs} >= {"quiet", "busy"},
                      what="latched states of quiet and busy")
        latest = {}
        for m in late.msgs:
            latest[m.face_id] = m.state
        assert latest["quiet"] == S.POSITIVE
        assert latest["busy"] == S.POSITIVE  # i = 9 -> 0.35
        assert len(late.msgs) <= 6, "history depth is 2 * max_faces"
    finally:
        ros_client.destroy(late)
    diag = session.latest_diagnostics(lambda kv: int(kv["state_republished"]) >= 1)
    assert int(diag["state_republished"]) >= 1


def test_runtime_parameter_changes(session, ros_client):
    fqn = session.process.fqn
    try:
        # Accepted: a dynamic parameter within range; the node uses it at once.
        results = ros_client.set_parameters(fqn, {"positive_threshold": 0.5})
        assert results[0].successful, results[0].reason
        assert ros_client.get_parameters(fqn, ["positive_threshold"]) == [0.5]
        session.send(frame_with_raw(0.4), face_id="dyn", stamp_ns=BASE_STAMP_NS)
        session.wait_valence("dyn", 1)
        session.client.wait_for(lambda: states(session, "dyn"), process=session.process)
        assert states(session, "dyn") == [session.msg.ValenceState.NEUTRAL], "0.4 < new threshold"

        # An integer for a floating-point parameter (`ros2 param set ... 10`) is taken as 10.0.
        results = ros_client.set_parameters(fqn, {"smoothing_time_constant": 10})
        assert results[0].successful, results[0].reason
        session.send(frame_with_raw(-0.35), face_id="dyn", stamp_ns=BASE_STAMP_NS + 10**8)
        second = session.wait_valence("dyn", 2)[1]
        assert second.valence > second.raw_valence + 0.5, "smoothing now on"

        # face_timeout is dynamic too (the node re-creates its expiry timer).
        results = ros_client.set_parameters(fqn, {"face_timeout": 300.0})
        assert results[0].successful, results[0].reason
        session.send(frame_with_raw(0.35), face_id="dyn2", stamp_ns=BASE_STAMP_NS)
        session.wait_valence("dyn2", 1)
        results = ros_client.set_parameters(fqn, {"face_timeout": 600.0})
        assert results[0].successful, results[0].reason

        # Rejected, value unchanged: out of range, crossed thresholds, read-only, wrong type.
        for values, reason in [
            ({"hysteresis": 5.0}, "2.0"),  # rclpy's descriptor range check answers first
            ({"face_timeout": 0.0}, "face_timeout"),
            ({"negative_threshold": 0.6}, "negative_threshold"),
            ({"max_faces": 10}, "max_faces"),
            ({"input_type": "float32_multi_array"}, "input_type"),
            ({"hysteresis": "large"}, "Wrong parameter type"),  # rclpy's own reason
        ]:
            result = ros_client.set_parameters(fqn, values)[0]
            assert not result.successful, values
            assert reason in result.reason, (values, result.reason)
        assert ros_client.get_parameters(fqn, ["hysteresis", "face_timeout", "negative_threshold",
                                               "max_faces", "smoothing_time_constant"]) == \
            [0.1, 600.0, -0.3, 3, 10.0]
        assert session.process.running()
    finally:
        ros_client.set_parameters(fqn, {"positive_threshold": 0.3, "smoothing_time_constant": 0.0})
