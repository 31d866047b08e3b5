"""ValenceState.UNKNOWN: the node announces every face it stops tracking.

On expiry (face_timeout), on eviction beyond max_faces, on a backward clock
jump and on clean shutdown, the node publishes the face's state as UNKNOWN, so
a latched late joiner never sees a stale state for a person who left; the
transient-local history stays bounded (2 * max_faces).
"""
from __future__ import annotations

import signal

import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY, NEUTRAL, SAD
from helpers.ros_clients import NodeSession, SimClock, state_qos

pytestmark = pytest.mark.ros

SEC = 1_000_000_000


def last_states(session) -> dict[str, int]:
    """face_id -> state of its last ValenceState message received."""
    states = {}
    for msg in list(session.state.msgs):
        states[msg.face_id] = msg.state
    return states


def wait_state(session, face_id: str, state: int, what: str = ""):
    session.client.wait_for(lambda: last_states(session).get(face_id) == state,
                            what=what or f"state {state} for {face_id!r}", process=session.process)
    return session.states_of(face_id)[-1]


@pytest.fixture
def session(ros_client, node_process):
    made = []

    def make(params, **kwargs):
        process = node_process({"input_qos_reliability": "reliable", "input_qos_depth": 100,
                                **params}, **kwargs)
        s = NodeSession(ros_client, process)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_unknown_constant_keeps_the_other_values(ros_client):
    S = ros_client.msg.ValenceState
    assert (S.NEGATIVE, S.NEUTRAL, S.POSITIVE, S.UNKNOWN) == (-1, 0, 1, 2)


def test_expired_face_is_announced_unknown_and_late_joiner_sees_it(session, ros_client):
    s = session({"face_timeout": 0.5})
    S = s.msg.ValenceState
    s.send(HAPPY, face_id="leaver", stamp_ns=BASE_STAMP_NS, frame_id="cam1")
    positive = wait_state(s, "leaver", S.POSITIVE)
    unknown = wait_state(s, "leaver", S.UNKNOWN, "UNKNOWN after face_timeout")
    assert [m.state for m in s.states_of("leaver")] == [S.POSITIVE, S.UNKNOWN]
    assert unknown.header.frame_id == "cam1"
    assert unknown.valence == pytest.approx(positive.valence)
    # stamped on the node clock when the face was dropped: after its last frame was received
    assert unknown.header.stamp.sec >= s.state.times[0] // SEC - 1
    # A subscriber joining now gets the face's history ending in UNKNOWN, never a
    # stale POSITIVE as the final word.
    late = ros_client.collect(s.process.topic("valence_state"), S, qos=state_qos())
    try:
        late.wait_for(lambda msgs: len([m for m in msgs if m.face_id == "leaver"]) >= 2,
                      what="the latched history of the face")
        assert [m.state for m in late.msgs if m.face_id == "leaver"] == [S.POSITIVE, S.UNKNOWN]
    finally:
        ros_client.destroy(late)
    kv = s.latest_diagnostics(lambda kv: int(kv["expired_faces"]) >= 1)
    assert kv["active_faces"] == "0"


def test_evicted_face_is_announced_unknown(session):
    s = session({"face_timeout": 60.0, "max_faces": 2})
    S = s.msg.ValenceState
    for k, face in enumerate(("a", "b")):
        s.send(SAD, face_id=face, stamp_ns=BASE_STAMP_NS + k * SEC // 10)
        wait_state(s, face, S.NEGATIVE)
    s.send(NEUTRAL, face_id="c", stamp_ns=BASE_STAMP_NS + SEC)
    wait_state(s, "a", S.UNKNOWN, "UNKNOWN for the evicted least recently seen face")
    wait_state(s, "c", S.NEUTRAL)
    assert last_states(s) == {"a": S.UNKNOWN, "b": S.NEGATIVE, "c": S.NEUTRAL}
    # UNKNOWN comes before the newcomer's state: the history never holds 3 tracked faces.
    order = [(m.face_id, m.state) for m in s.state.msgs]
    assert order.index(("a", S.UNKNOWN)) < order.index(("c", S.NEUTRAL))


def test_transient_local_history_stays_bounded_with_many_gone_faces(session, ros_client):
    s = session({"face_timeout": 60.0, "max_faces": 2})   # history depth 4
    S = s.msg.ValenceState
    for k in range(12):   # 12 faces come, each evicts the oldest one
        s.send(HAPPY if k % 2 else SAD, face_id=f"f{k}", stamp_ns=BASE_STAMP_NS + k * SEC // 10)
        s.wait_valence(f"f{k}", 1)
    wait_state(s, "f9", S.UNKNOWN)
    late = ros_client.collect(s.process.topic("valence_state"), S, qos=state_qos())
    try:
        late.wait_for(lambda msgs: {"f10", "f11"} <= {m.face_id for m in msgs},
                      what="the two tracked faces in the latched history")
        ros_client.wait_for(lambda: False if len(late) < 4 else True, what="the whole history")
        assert len(late) <= 4, "the history is bounded by 2 * max_faces"
        final = {}
        for m in late.msgs:
            final[m.face_id] = m.state
        assert final["f10"] == S.NEGATIVE and final["f11"] == S.POSITIVE
        assert all(state == S.UNKNOWN for face, state in final.items() if face not in ("f10", "f11"))
    finally:
        ros_client.destroy(late)


def test_clean_shutdown_announces_every_tracked_face(session):
    s = session({"face_timeout": 60.0})
    S = s.msg.ValenceState
    for k, (face, probs) in enumerate((("p", HAPPY), ("q", SAD), ("r", NEUTRAL))):
        s.send(probs, face_id=face, stamp_ns=BASE_STAMP_NS + k * SEC // 10)
        s.wait_valence(face, 1)
    s.client.wait_for(lambda: len(last_states(s)) == 3, what="3 states", process=s.process)
    assert s.process.stop(signal.SIGINT) == 0
    assert last_states(s) == {"p": S.UNKNOWN, "q": S.UNKNOWN, "r": S.UNKNOWN}, \
        "UNKNOWN for every tracked face before exit"


def test_sigterm_shutdown_announces_too(session):
    s = session({"face_timeout": 60.0})
    S = s.msg.ValenceState
    s.send(HAPPY, face_id="t", stamp_ns=BASE_STAMP_NS)
    wait_state(s, "t", S.POSITIVE)
    assert s.process.stop(signal.SIGTERM) == 0
    assert last_states(s)["t"] == S.UNKNOWN


def test_clock_reset_announces_every_face(session, ros_client):
    clock = SimClock(ros_client, 2000 * SEC)
    try:
        s = session({"use_sim_time": True, "face_timeout": 60.0}, namespace="/unknown_sim")
        S = s.msg.ValenceState
        ros_client.wait_matched(clock.publisher, process=s.process)
        s.latest_diagnostics(lambda kv: True)
        for face, probs in (("u", HAPPY), ("v", SAD)):
            s.send(probs, face_id=face, stamp_ns=2000 * SEC)
            s.wait_valence(face, 1)
        s.client.wait_for(lambda: len(last_states(s)) == 2, what="2 states", process=s.process)
        clock.now_ns = 1000 * SEC   # the simulator resets
        wait_state(s, "u", S.UNKNOWN, "UNKNOWN after the backward clock jump")
        wait_state(s, "v", S.UNKNOWN)
        assert s.states_of("u")[-1].header.stamp.sec <= 1001, "stamped on the jumped-back clock"
    finally:
        clock.close()
