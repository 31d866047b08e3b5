"""Pure logic of the behaviours: face selection, min_duration, max_age, snapshots."""
from __future__ import annotations

import math
import sys
import tracemalloc
from itertools import repeat

import pytest

from valence_ros.behaviours.face_selection import (
    MAX_FACES, StateBoard, ValenceBoard, parse_state, snapshot)
from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE, UNKNOWN


def test_parse_state_accepts_constants_and_names_only():
    assert [parse_state(s) for s in (-1, 0, 1, 2)] == [NEGATIVE, NEUTRAL, POSITIVE, UNKNOWN]
    assert parse_state("negative") == NEGATIVE and parse_state(" Unknown ") == UNKNOWN
    for bad in (3, -2, True, "sad", None, 1.0):
        with pytest.raises(ValueError, match="allowed: one of NEGATIVE"):
            parse_state(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"face": ""}, "face"), ({"face": None}, "face"), ({"min_duration": -1.0}, "min_duration"),
    ({"min_duration": math.nan}, "min_duration"), ({"min_duration": math.inf}, "min_duration"),
])
def test_state_board_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StateBoard(**{"face": "any", "state": NEGATIVE, **kwargs})


def test_a_face_id_is_in_a_state_from_its_stamp_until_it_changes_or_leaves():
    b = StateBoard("alice", NEGATIVE, min_duration=1.0)
    assert not b.holds(100.0)
    b.on_state("bob", NEGATIVE, 10.0)
    assert not b.holds(100.0), "another face does not count"
    b.on_state("alice", NEGATIVE, 10.0)
    assert not b.holds(10.999) and b.holds(11.0)
    b.on_state("alice", NEGATIVE, 10.0)      # the node re-sends unchanged: still since 10.0
    assert b.holds(11.0)
    b.on_state("alice", NEUTRAL, 12.0)
    assert not b.holds(20.0)
    b.on_state("alice", UNKNOWN, 13.0)
    assert not b.holds(20.0) and b.state_of("alice") == UNKNOWN and len(b) == 1


def test_unknown_of_one_face_since_it_left_never_seen_counts_as_gone_forever():
    b = StateBoard("alice", UNKNOWN, min_duration=2.0)
    assert b.holds(0.0), "never seen"
    b.on_state("alice", POSITIVE, 5.0)
    assert not b.holds(50.0)
    b.on_state("alice", UNKNOWN, 6.0)
    assert not b.holds(7.9) and b.holds(8.0)


def test_any_all_latest():
    any_neg = StateBoard("any", NEGATIVE, min_duration=1.0)
    all_neg = StateBoard("all", NEGATIVE, min_duration=1.0)
    latest_pos = StateBoard("latest", POSITIVE)
    boards = (any_neg, all_neg, latest_pos)

    def send(face, state, stamp):
        for b in boards:
            b.on_state(face, state, stamp)

    assert [b.holds(0.0) for b in boards] == [False, False, False]
    send("a", NEGATIVE, 10.0)
    assert [b.holds(11.0) for b in boards] == [True, True, False]
    send("b", POSITIVE, 10.5)              # latest changed face: b, POSITIVE
    assert [b.holds(11.0) for b in boards] == [True, False, True]
    send("b", NEGATIVE, 11.0)
    assert all_neg.holds(12.0) and not all_neg.holds(11.5), "all: since the last face entered"
    assert any_neg.holds(11.0), "any: since the first face entered"
    assert not latest_pos.holds(12.0)
    send("a", POSITIVE, 12.0)
    assert latest_pos.holds(12.0) and not all_neg.holds(20.0) and any_neg.holds(12.0)
    send("a", UNKNOWN, 13.0)               # a leaves: latest is b (NEGATIVE)
    assert not latest_pos.holds(13.0) and all_neg.holds(13.0)


def test_nobody_tracked_is_unknown_over_any_all_latest():
    boards = [StateBoard(face, UNKNOWN, min_duration=1.0) for face in ("any", "all", "latest")]
    assert all(b.holds(0.0) for b in boards), "no face ever seen"
    for b in boards:
        b.on_state("a", NEUTRAL, 5.0)
        b.on_state("b", NEUTRAL, 5.0)
    assert not any(b.holds(100.0) for b in boards)
    for b in boards:
        b.on_state("a", UNKNOWN, 6.0)
        b.on_state("b", UNKNOWN, 7.0)
    assert not any(b.holds(7.5) for b in boards) and all(b.holds(8.0) for b in boards)
    assert all(b.latest() is None for b in boards)


def test_state_board_memory_is_bounded():
    b = StateBoard("any", NEGATIVE, max_faces=3)
    for k in range(10):
        b.on_state(f"f{k}", NEGATIVE, float(k))
    assert len(b) == 3 and {b.state_of(f) for f in ("f7", "f8", "f9")} == {NEGATIVE}
    assert StateBoard("any", NEGATIVE).max_faces == MAX_FACES


def test_valence_above_below_by_face_with_max_age():
    above = ValenceBoard("alice", 0.3, above=True, max_age=0.5)
    below = ValenceBoard("alice", -0.3, above=False, max_age=0.5)
    for board in (above, below):
        assert not board.holds(0.0), "no frame yet"
    above.on_valence("alice", 0.3, 10.0)
    assert not above.holds(10.0), "strictly above"
    above.on_valence("alice", 0.31, 10.1)
    assert above.holds(10.6) and not above.holds(10.61), "stale after max_age"
    above.on_valence("bob", 0.9, 11.0)
    assert not above.holds(11.0), "another face does not count"
    below.on_valence("alice", -0.5, 10.0)
    assert below.holds(10.2)
    below.on_valence("alice", -0.5, 9.0)   # out of order: ignored, the face stays at 10.0
    assert below.holds(10.5) and not below.holds(10.6)


def test_valence_any_all_latest_count_only_fresh_faces():
    any_b, all_b, latest_b = (ValenceBoard(f, 0.0, above=True, max_age=1.0)
                              for f in ("any", "all", "latest"))

    def send(face, value, stamp):
        for b in (any_b, all_b, latest_b):
            b.on_valence(face, value, stamp)

    send("a", 0.5, 10.0)
    send("b", -0.5, 10.2)
    assert (any_b.holds(10.5), all_b.holds(10.5), latest_b.holds(10.5)) == (True, False, False)
    assert (any_b.holds(11.1), all_b.holds(11.1)) == (False, False), "a stale, b fresh and failing"
    assert all_b.holds(11.25) is False, "nobody fresh"
    send("a", 0.6, 12.0)
    assert (any_b.holds(12.5), all_b.holds(12.5), latest_b.holds(12.5)) == (True, True, True)
    assert latest_b.latest() == "a"


def test_valence_board_memory_is_bounded_and_rejects_bad_arguments():
    b = ValenceBoard("any", 0.0, above=True, max_faces=4)
    for k in range(20):
        b.on_valence(f"f{k}", 0.5, float(k))
    assert len(b) == 4 and b.value_of("f19") == (0.5, 19.0) and b.value_of("f0") is None
    for kwargs in ({"threshold": 1.5}, {"threshold": math.nan}, {"max_age": -1.0},
                   {"max_age": math.nan}, {"face": ""}):
        with pytest.raises(ValueError):
            ValenceBoard(**{"face": "any", "threshold": 0.0, "above": True, **kwargs})
    assert ValenceBoard("any", 0.0, True, max_age=math.inf).max_age == math.inf


def test_snapshot_of_a_face_and_of_the_latest():
    states, valences = StateBoard("latest", UNKNOWN), ValenceBoard("latest", 0.0, True, max_age=1.0)
    assert snapshot("latest", states, valences, 0.0) == ("", UNKNOWN, None)
    states.on_state("a", NEGATIVE, 9.0)
    valences.on_valence("a", -0.6, 10.0)
    states.on_state("b", POSITIVE, 9.5)
    valences.on_valence("b", 0.7, 10.5)
    assert snapshot("latest", states, valences, 11.0) == ("b", POSITIVE, pytest.approx(0.7))
    assert snapshot("a", states, valences, 10.5) == ("a", NEGATIVE, pytest.approx(-0.6))
    assert snapshot("a", states, valences, 11.5) == ("a", NEGATIVE, None), "frame too old"
    assert snapshot("latest", states, valences, 20.0) == ("b", POSITIVE, None), \
        "no fresh frame: the face whose state changed last"
    assert snapshot("zed", states, valences, 20.0) == ("zed", UNKNOWN, None)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="CPython < 3.11 allocates a frame object for every "
                    "Python call: the no-allocation tick is a 3.11+ property")
def test_holds_does_not_allocate():
    """The tick path: two float comparisons, no object created (traced peak == base)."""
    boards = [StateBoard(f, NEGATIVE, 0.5) for f in ("a", "any", "all", "latest")]
    boards += [ValenceBoard(f, 0.1, True, 0.5) for f in ("a", "any", "all", "latest")]
    for b in boards[:4]:
        b.on_state("a", NEGATIVE, 1.0)
    for b in boards[4:]:
        b.on_valence("a", 0.5, 1.0)
    h0, h1, h2, h3, h4, h5, h6, h7 = (b.holds for b in boards)
    now = 1.2
    assert [h(now) for h in (h0, h1, h2, h3, h4, h5, h6, h7)] == [False] * 4 + [True] * 4
    ticks = repeat(None, 2000)
    # Other threads of this pytest process (a ROS client's executor) must not allocate
    # meanwhile: the loop releases no lock and keeps the GIL for the whole interval.
    interval = sys.getswitchinterval()
    tracemalloc.start()
    try:
        sys.setswitchinterval(30.0)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in ticks:
            h0(now), h1(now), h2(now), h3(now), h4(now), h5(now), h6(now), h7(now)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        sys.setswitchinterval(interval)
        tracemalloc.stop()
    assert peak == base == current
