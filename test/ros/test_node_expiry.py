"""Face expiry after face_timeout: on the wall clock, and under sim time (/clock).

Two node processes: one on the system clock (face_timeout 60 s while a face's
frames must be smoothed together, so a busy machine cannot expire it between
them; then 0.5 s, set at runtime), one with use_sim_time (face_timeout 1.0
simulated s) driven by a /clock publisher in this test (in namespace /sim, so
the two never share topics), which also checks that a backward clock jump
restarts every face.
"""
from __future__ import annotations

import time

import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY, SAD
from helpers.ros_clients import NodeSession, SimClock

pytestmark = pytest.mark.ros

SEC = 1_000_000_000


def active(kv) -> int:
    return int(kv["active_faces"])


@pytest.fixture(scope="module")
def wall(ros_client, module_node_factory):
    process = module_node_factory({"face_timeout": 60.0, "diagnostics_period": 0.2,
                                   "input_qos_reliability": "reliable", "input_qos_depth": 100})
    s = NodeSession(ros_client, process)
    yield s
    s.close()


def first_status_after(session, start: int, predicate):
    """(KeyValues, receive time ns) of the first status of the node among
    session.diagnostics[start:] that satisfies predicate; None if none yet."""
    for array, received_ns in zip(session.diagnostics.msgs[start:], session.diagnostics.times[start:]):
        for status in array.status:
            if status.name == session.process.diagnostics_name:
                kv = {v.key: v.value for v in status.values}
                kv["level"] = int.from_bytes(status.level, "little") if isinstance(
                    status.level, bytes) else int(status.level)
                if predicate(kv):
                    return kv, received_ns
    return None


def test_face_expires_after_timeout_on_wall_clock_and_restarts(wall):
    S = wall.msg.ValenceState
    before = wall.latest_diagnostics()
    wall.send(HAPPY, face_id="wall", stamp_ns=BASE_STAMP_NS)
    sent_last_ns = time.time_ns()   # the node sees the face last at or after this
    wall.send(SAD, face_id="wall", stamp_ns=BASE_STAMP_NS + SEC // 10)
    first = wall.wait_valence("wall", 2)
    assert first[1].valence > first[1].raw_valence, "smoothed towards the earlier happy frame"
    # face_timeout 0.5 s from now on (dynamic): the face is forgotten 0.5 s after its
    # last frame, not earlier.
    start = len(wall.diagnostics)
    assert all(r.successful for r in wall.client.set_parameters(wall.process.fqn, {"face_timeout": 0.5}))
    expired = int(before["expired_faces"]) + 1

    def gone(kv):
        return active(kv) == 0 and int(kv["expired_faces"]) >= expired

    wall.client.wait_for(lambda: first_status_after(wall, start, gone) is not None,
                         what="the face to expire", process=wall.process)
    diag, received_ns = first_status_after(wall, start, gone)
    assert int(diag["expired_faces"]) == expired
    assert received_ns - sent_last_ns >= SEC // 2, "expired before face_timeout"
    assert diag["level"] == 0
    # The next frame, 0.1 s of stamp time later, starts a fresh filter at its raw valence.
    wall.send(SAD, face_id="wall", stamp_ns=BASE_STAMP_NS + 2 * SEC // 10)
    restarted = wall.wait_valence("wall", 3)[2]
    assert restarted.valence == restarted.raw_valence
    # ... and is a face's first frame again: its state is published.
    wall.client.wait_for(lambda: [m.state for m in wall.states_of("wall")][-1:] == [S.NEGATIVE]
                         and len(wall.states_of("wall")) >= 2, process=wall.process,
                         what="state of the restarted face")
    assert wall.states_of("wall")[-1].header.stamp.nanosec == (BASE_STAMP_NS + 2 * SEC // 10) % SEC


def test_each_face_expires_at_its_own_deadline(wall):
    """Two faces whose last frames are 0.5 s apart: the first is forgotten while the
    second is still tracked, then the second (the expiry timer goes off for the least
    recently seen face, then is set again for the next)."""
    assert all(r.successful for r in wall.client.set_parameters(wall.process.fqn, {"face_timeout": 0.8}))
    before = int(wall.latest_diagnostics(lambda kv: active(kv) == 0)["expired_faces"])
    start = len(wall.diagnostics)
    wall.send(HAPPY, face_id="early", stamp_ns=BASE_STAMP_NS + 10 * SEC)
    wall.wait_valence("early", 1)
    time.sleep(0.5)
    wall.send(HAPPY, face_id="late", stamp_ns=BASE_STAMP_NS + 10 * SEC)
    wall.wait_valence("late", 1)
    # diagnostics every 0.2 s: at least one status falls between the two expiries
    alone = wall.latest_diagnostics(lambda kv: int(kv["expired_faces"]) == before + 1, since=start)
    assert active(alone) == 1, "the second face outlives the first"
    done = wall.latest_diagnostics(lambda kv: int(kv["expired_faces"]) == before + 2, since=start)
    assert active(done) == 0
    S = wall.msg.ValenceState
    assert [m.state for m in wall.states_of("early")][-1] == S.UNKNOWN
    assert [m.state for m in wall.states_of("late")][-1] == S.UNKNOWN


@pytest.fixture(scope="module")
def sim(ros_client, module_node_factory):
    process = module_node_factory({"use_sim_time": True, "face_timeout": 1.0,
                                   "diagnostics_period": 0.2, "smoothing_time_constant": 0.5,
                                   "input_qos_reliability": "reliable", "input_qos_depth": 100},
                                  namespace="/sim")  # the wall-clock node may still run
    clock = SimClock(ros_client, 1000 * SEC)
    s = NodeSession(ros_client, process)
    ros_client.wait_matched(clock.publisher, process=process)
    yield s, clock
    clock.close()
    s.close()


def wait_node_time(session, sec: int):
    """Until the node's clock (the stamp of its diagnostics) reads `sec`."""
    start = len(session.diagnostics)
    session.client.wait_for(
        lambda: any(a.header.stamp.sec == sec for a in session.diagnostics.msgs[start:]),
        what=f"node clock at {sec} s", process=session.process)


def test_face_expiry_follows_sim_time(sim):
    session, clock = sim
    wait_node_time(session, 1000)
    session.send(HAPPY, face_id="sim", stamp_ns=1000 * SEC)
    session.wait_valence("sim", 1)
    session.latest_diagnostics(lambda kv: active(kv) >= 1)
    # Simulated time stands still while wall time passes well beyond face_timeout:
    # the face stays (10 diagnostics periods of 0.2 s wall = 2 s > 1.0 s).
    start = len(session.diagnostics)
    session.client.wait_for(lambda: len(session.diagnostics) >= start + 10,
                            what="2 s of diagnostics", process=session.process)
    kv = session.latest_diagnostics()
    assert active(kv) == 1, "no expiry while sim time stands still"
    expired_before = int(kv["expired_faces"])
    # Simulated time moves 1.5 s on: the face is forgotten.
    clock.now_ns = 1001 * SEC + SEC // 2
    kv = session.latest_diagnostics(lambda kv: active(kv) == 0)
    assert int(kv["expired_faces"]) == expired_before + 1


def test_backward_clock_jump_restarts_faces(sim):
    session, clock = sim
    clock.now_ns = 1002 * SEC
    wait_node_time(session, 1002)
    session.send(HAPPY, face_id="jump", stamp_ns=1002 * SEC)
    session.send(SAD, face_id="jump", stamp_ns=1002 * SEC + SEC // 10)
    session.wait_valence("jump", 2)
    before = session.latest_diagnostics(lambda kv: active(kv) >= 1)
    # The bag loops / the simulator resets: time jumps back 502 s.
    clock.now_ns = 500 * SEC
    kv = session.latest_diagnostics(
        lambda kv: int(kv["clock_resets"]) >= int(before["clock_resets"]) + 1 and active(kv) == 0)
    session.send(SAD, face_id="jump", stamp_ns=500 * SEC + SEC // 10)
    after = session.wait_valence("jump", 3)[2]
    assert after.valence == after.raw_valence, "a fresh filter, not an out-of-order frame"
    kv = session.latest_diagnostics()
    assert int(kv["out_of_order"]) == int(before["out_of_order"])
    # ... and it times out on the new time line, although the expiry timer had been set
    # for the face's deadline before the jump (1003 s): rcl moves the timer with the jump.
    expired_before = int(session.latest_diagnostics()["expired_faces"])
    clock.now_ns = 501 * SEC + SEC // 2
    kv = session.latest_diagnostics(lambda kv: active(kv) == 0 and int(kv["expired_faces"]) > expired_before)
    assert int(kv["expired_faces"]) == expired_before + 1
