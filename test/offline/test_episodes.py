"""Episodes on hand-built frame sequences: changes of state, a face that leaves and returns,
UNKNOWN frames, several faces; the same episodes however the frames are batched."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from valence_ros.core.face_tracker import FaceTracker, TrackerConfig
from valence_ros.offline.episodes import EpisodeBuilder

N, P, NEG, UNK = 0, 1, -1, 2
SEC = 1_000_000_000


def episodes(frames, cuts=()):
    """frames: (face, stamp, state, new_track) in arrival order; fed per face, split at `cuts`."""
    b = EpisodeBuilder()
    bounds = [0, *cuts, len(frames)]
    for lo, hi in zip(bounds, bounds[1:]):
        part = frames[lo:hi]
        for face in dict.fromkeys(f for f, *_ in part):
            mine = [f for f in part if f[0] == face]
            b.add(face, [f[1] for f in mine], [f[2] for f in mine], [f[3] for f in mine])
    b.finish()
    return b


def test_change_of_state_ends_at_the_next_state_and_the_session_end_at_the_last_frame():
    frames = [("a", 0, N, True), ("a", 10, N, False), ("a", 20, P, False), ("a", 30, P, False),
              ("a", 40, NEG, False), ("a", 50, NEG, False)]
    b = episodes(frames)
    assert b.rows() == [("a", N, 0, 20), ("a", P, 20, 40), ("a", NEG, 40, 50)]
    info = b.faces["a"]
    assert info.counts() == {NEG: 1, N: 1, P: 1}
    assert info.time_to_first_s(P) == pytest.approx(20e-9) and info.time_to_first_s(NEG) == pytest.approx(40e-9)


def test_face_that_leaves_and_returns():
    # a: NEUTRAL, POSITIVE, then gone (the tracker forgot it); back in POSITIVE, then NEUTRAL
    frames = [("a", 0, N, True), ("a", 1 * SEC, P, False), ("a", 2 * SEC, P, False),
              ("a", 9 * SEC, P, True), ("a", 10 * SEC, P, False), ("a", 11 * SEC, N, False)]
    assert episodes(frames).rows() == [
        ("a", N, 0, 1 * SEC),
        ("a", P, 1 * SEC, 2 * SEC),          # ends at its last frame: the gap is nobody's time
        ("a", P, 9 * SEC, 11 * SEC),         # a new episode, though the state is the same
        ("a", N, 11 * SEC, 11 * SEC)]


def test_return_in_another_state_does_not_bridge_the_gap():
    frames = [("a", 0, P, True), ("a", SEC, P, False), ("a", 8 * SEC, NEG, True)]
    assert episodes(frames).rows() == [("a", P, 0, SEC), ("a", NEG, 8 * SEC, 8 * SEC)]


def test_unknown_frames_form_no_episode_and_end_the_one_before():
    frames = [("a", 0, P, True), ("a", 10, P, False), ("a", 20, UNK, False), ("a", 30, UNK, False),
              ("a", 40, P, False)]
    b = episodes(frames)
    assert b.rows() == [("a", P, 0, 20), ("a", P, 40, 40)]
    assert b.faces["a"].counts() == {NEG: 0, N: 0, P: 2}


def test_faces_are_independent_and_rows_sorted_by_face_then_start():
    frames = [("b", 0, N, True), ("a", 5, P, True), ("b", 10, P, False), ("a", 15, P, False),
              ("b", 20, P, False), ("a", 25, NEG, False)]
    b = episodes(frames)
    assert b.rows() == [("a", P, 5, 25), ("a", NEG, 25, 25), ("b", N, 0, 10), ("b", P, 10, 20)]
    assert b.faces["a"].time_to_first_s(N) is None


def test_out_of_order_stamp_inside_an_episode():
    frames = [("a", 0, N, True), ("a", 30, N, False), ("a", 20, N, False), ("a", 40, P, False)]
    assert episodes(frames).rows() == [("a", N, 0, 40), ("a", P, 40, 40)]


def test_batching_does_not_change_the_episodes():
    rng = np.random.default_rng(3)
    states = rng.choice([NEG, N, P, UNK], size=60, p=[0.3, 0.3, 0.35, 0.05])
    frames = [(face, 100 * i, int(states[i]), bool(i < 2 or rng.random() < 0.08))
              for i, face in zip(range(60), itertools.cycle(["a", "b"]))]
    whole = episodes(frames).rows()
    assert len(whole) > 10
    for cuts in ([1], [7], [30], [2, 3, 4, 5], list(range(1, 60, 7)), list(range(1, 60))):
        assert episodes(frames, cuts).rows() == whole


def test_new_track_comes_from_the_tracker():
    """The episodes' face-loss boundary is the tracker's own decision: expiry and eviction."""
    t = FaceTracker(TrackerConfig(face_timeout=2.0, max_faces=2))
    flags = [t.update("a", s * SEC, 0.0, s * SEC).new_track for s in (0, 1, 2, 5, 6)]
    assert flags == [True, False, False, True, False]            # 3 s gap > face_timeout
    assert [t.update(f, 7 * SEC, 0.0, 7 * SEC).new_track for f in ("b", "c", "a")] == [True, True, True]
