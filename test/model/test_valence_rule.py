"""Label rules on known vectors and as properties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valence_ros.core.emotions import EMOTIONS
from valence_ros.model.valence_rule import (
    MEHRABIAN_WEIGHTS,
    facereader_valence,
    label,
    weighted_valence,
    weights_vector,
)


def vec(**kw):
    v = np.zeros(7)
    for k, x in kw.items():
        v[EMOTIONS.index(k)] = x
    return v


def test_facereader_one_hots():
    expected = {"neutral": 0.0, "happy": 1.0, "sad": -1.0, "angry": -1.0,
                "surprised": 0.0, "scared": -1.0, "disgusted": -1.0}
    out = facereader_valence(np.eye(7))
    assert out.shape == (7,)
    for i, e in enumerate(EMOTIONS):
        assert out[i] == pytest.approx(expected[e]), e


def test_facereader_known_vectors():
    # the model card's example: 0.95 - max(0.02, 0.01, 0.003, 0.001) = 0.93
    card = np.array([0.01, 0.95, 0.02, 0.01, 0.005, 0.003, 0.001])
    assert facereader_valence(card) == pytest.approx(0.93)
    # strongest negative wins, negatives are not summed
    assert facereader_valence(vec(happy=0.3, sad=0.1, angry=0.4, scared=0.05, disgusted=0.15)) == pytest.approx(-0.1)
    # neutral and surprised are ignored
    assert facereader_valence(vec(neutral=0.6, surprised=0.4)) == pytest.approx(0.0)
    assert facereader_valence(vec(neutral=0.2, happy=0.2, surprised=0.6)) == pytest.approx(0.2)
    assert facereader_valence(vec(disgusted=0.7, scared=0.3)) == pytest.approx(-0.7)


def test_batch_shapes_and_dtypes():
    x = np.random.default_rng(0).dirichlet(np.ones(7), size=(4, 5)).astype(np.float32)
    out = facereader_valence(x)
    assert out.shape == (4, 5) and out.dtype == np.float32
    assert weighted_valence(x).shape == (4, 5)
    assert facereader_valence(np.eye(7, dtype=int)).dtype == np.float64
    with pytest.raises(ValueError):
        facereader_valence(np.ones((3, 6)))
    with pytest.raises(ValueError):
        weighted_valence(np.float64(1.0))


def test_weighted_rule():
    w = weights_vector()
    assert list(w) == [MEHRABIAN_WEIGHTS[e] for e in EMOTIONS]
    assert list(w) == [0.0, 0.81, -0.63, -0.51, 0.40, -0.64, -0.60]
    assert np.allclose(weighted_valence(np.eye(7)), w)
    v = vec(neutral=0.5, happy=0.3, sad=0.2)
    assert weighted_valence(v) == pytest.approx(0.3 * 0.81 - 0.2 * 0.63)
    assert weighted_valence(v, {"happy": 1.0}) == pytest.approx(0.3)
    assert weighted_valence(v, [1, 1, 1, 1, 1, 1, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        weighted_valence(v, {"joy": 1.0})
    with pytest.raises(ValueError):
        weighted_valence(v, [1.0, 2.0])


def test_label_dispatch():
    x = np.eye(7)
    assert np.array_equal(label(x), facereader_valence(x))
    assert np.array_equal(label(x, "weighted"), weighted_valence(x))
    with pytest.raises(ValueError):
        label(x, "pad")


simplex = st.lists(st.floats(0, 1, allow_nan=False), min_size=7, max_size=7).filter(lambda v: sum(v) > 1e-3)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(simplex)
def test_facereader_matches_definition(v):
    p = np.array(v) / sum(v)
    d = dict(zip(EMOTIONS, p))
    expected = d["happy"] - max(d["sad"], d["angry"], d["scared"], d["disgusted"])
    got = float(facereader_valence(p))
    assert got == pytest.approx(expected, abs=1e-12)
    assert -1.0 <= got <= 1.0
    wv = float(weighted_valence(p))
    assert min(MEHRABIAN_WEIGHTS.values()) - 1e-12 <= wv <= max(MEHRABIAN_WEIGHTS.values()) + 1e-12
