"""core.hri_expression: dominant emotion, per-face topic names."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.inputs import colliding_face_ids
from valence_ros.core.emotions import EMOTIONS
from valence_ros.core.hri_expression import (
    DEFAULT_TOPIC_PATTERN,
    dominant_emotion,
    expression_topic,
    is_topic_token,
    pattern_problem,
    topic_token,
)


def test_dominant_emotion_is_the_argmax_with_its_probability():
    for i in range(len(EMOTIONS)):
        p = np.full(7, 0.05, dtype=np.float32)
        p[i] = 0.7
        index, confidence = dominant_emotion(p)
        assert index == i and confidence == pytest.approx(0.7)


def test_dominant_emotion_tie_goes_to_the_canonical_first():
    assert dominant_emotion([0.0, 0.5, 0.5, 0, 0, 0, 0])[0] == 1


@pytest.mark.parametrize("face_id", ["abcde", "face_1", "_x", "A9"])
def test_valid_tokens_are_kept(face_id):
    assert topic_token(face_id) == face_id
    assert expression_topic(DEFAULT_TOPIC_PATTERN, face_id) == f"/humans/faces/{face_id}/expression"


@pytest.mark.parametrize("face_id, readable", [
    ("", "id"), ("1abc", "id_1abc"), ("a-b", "a_b"), ("face 7", "face_7"), ("é", "id"),
    ("a/b", "a_b"), ("{x}", "x"), ("-9", "id_9"), ("x" * 60 + "-", "x" * 48),
])
def test_invalid_ids_get_the_documented_sanitised_name(face_id, readable):
    digest = hashlib.sha1(face_id.encode()).hexdigest()[:8]
    assert topic_token(face_id) == f"{readable}_{digest}"
    assert is_topic_token(topic_token(face_id))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_sanitised_names_are_valid_and_distinct(a, b):
    ta, tb = topic_token(a), topic_token(b)
    assert is_topic_token(ta) and is_topic_token(tb)
    if a != b:  # distinct ids, distinct names (8 hex digits of SHA-1 for invalid ones)
        assert ta != tb


@pytest.mark.parametrize("pattern", ["/humans/faces/{face_id}/expression", "faces/{face_id}",
                                     "~/{face_id}/expression", "/{face_id}"])
def test_good_patterns(pattern):
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize("pattern", ["/humans/faces/expression", "/{face_id}/{face_id}",
                                     "/1faces/{face_id}", "/a//{face_id}", "/a b/{face_id}", ""])
def test_bad_patterns(pattern):
    assert pattern_problem(pattern)


# --- issue 22 item 14: the mapping is injective -------------------------------------
_HASHED = r"[A-Za-z_][A-Za-z0-9_]{0,40}_[0-9a-f]{8}"


def test_an_id_that_looks_like_a_sanitised_name_is_hashed_too():
    assert topic_token("face 7") == "face_7_f353fd7b"
    literal = topic_token("face_7_f353fd7b")
    digest = hashlib.sha1(b"face_7_f353fd7b").hexdigest()[:8]
    assert literal == f"face_7_f353fd7b_{digest}" != topic_token("face 7")
    assert topic_token("face_7_F353FD7B") == "face_7_F353FD7B"  # upper case: never our suffix
    assert topic_token("x" * 64) == "x" * 64
    assert topic_token("x" * 65).startswith("x" * 48 + "_")     # too long to keep


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=70), st.from_regex(_HASHED, fullmatch=True),
                          st.text(max_size=30).map(topic_token),
                          st.text(max_size=30).map(lambda t: topic_token(topic_token(t)))),
                min_size=2, max_size=12, unique=True))
def test_distinct_ids_never_share_a_name(ids):
    tokens = [topic_token(i) for i in ids]
    assert all(is_topic_token(t) and len(t) <= 64 for t in tokens)
    assert len(set(tokens)) == len(ids), dict(zip(ids, tokens))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_an_id_and_its_own_sanitised_name_differ(face_id):
    token = topic_token(face_id)
    assert token == face_id or topic_token(token) != token


def test_the_one_limit_is_a_32_bit_sha1_prefix_collision():
    """Documented: two sanitised names are equal only when the ids' SHA-1 agree in 32
    bits (the node then refuses the second face's Expression: test_hri_node.py)."""
    a, b = colliding_face_ids()
    assert a != b and topic_token(a) == topic_token(b)
    assert hashlib.sha1(a.encode()).hexdigest()[:8] == hashlib.sha1(b.encode()).hexdigest()[:8]


def test_patterns_too_long_for_a_64_character_id_are_refused():
    assert pattern_problem("/" + "a" * 170 + "/{face_id}") is None
    assert "247" in pattern_problem("/" + "a" * 190 + "/{face_id}")
