"""Frame validation and canonical reordering; per-frame and batch paths agree."""
from __future__ import annotations

import math
from array import array

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valence_ros.core.labels import resolve_labels
from valence_ros.core.preprocessing import (
    ACCEPTED,
    REASON_CODE,
    REJECT_REASONS,
    to_canonical,
    to_canonical_batch,
)

CANON = resolve_labels(())
F32 = np.float32
HAPPY = np.array([0.02, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01], dtype=F32)


def bits(a):
    """Exact bit pattern of a float32 array (tells -0.0 from 0.0, NaN payloads apart)."""
    return np.asarray(a, dtype=F32).view(np.uint32).tolist()


def canon(values, label_map=CANON, tol=0.05):
    return to_canonical(np.asarray(values, dtype=F32), label_map, tol)


def test_valid_identity_frame_sums_to_one_and_is_float32():
    out, reason = canon(HAPPY)
    assert reason is None and out.dtype == F32 and out.shape == (7,)
    assert out.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(out, HAPPY / HAPPY.sum(), rtol=1e-6)


def test_input_array_is_not_modified():
    values = HAPPY.copy()
    canon(values)
    np.testing.assert_array_equal(values, HAPPY)


@pytest.mark.parametrize("values, reason", [
    ([0.5, 0.5], "wrong_length"),
    ([math.nan, 0.9, 0.1, 0, 0, 0, 0], "non_finite"),
    ([math.inf, 0, 0, 0, 0, 0, 0], "non_finite"),
    ([-math.inf, 1, 0, 0, 0, 0, 0], "non_finite"),
    ([-0.01, 1.01, 0, 0, 0, 0, 0], "negative"),
    ([0.0] * 7, "zero_sum"),
    ([0.5] * 7, "bad_sum"),
    ([0.1, 0.1, 0, 0, 0, 0, 0], "bad_sum"),
])
def test_rejects_with_reason(values, reason):
    out, got = canon(values)
    assert out is None and got == reason
    assert got in REJECT_REASONS


def test_rounding_is_renormalised_within_tolerance():
    out, reason = canon(HAPPY * F32(1.04))
    assert reason is None
    assert out.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-6)
    assert canon(HAPPY * F32(1.06))[1] == "bad_sum"
    assert canon(HAPPY * F32(1.06), tol=0.1)[1] is None


def test_unknown_label_dropped_and_rest_renormalised():
    ferplus = resolve_labels(["ferplus"], allow_preset=True)  # neutral, happiness, surprise, sadness, anger, disgust, fear, contempt
    values = np.array([0.1, 0.4, 0.0, 0.1, 0.0, 0.0, 0.0, 0.4], dtype=F32)
    out, reason = to_canonical(values, ferplus, 0.05)
    assert reason is None
    np.testing.assert_allclose(out, [1 / 6, 4 / 6, 1 / 6, 0, 0, 0, 0], rtol=1e-6)


def test_all_mass_on_unknown_labels_is_rejected():
    label_map = resolve_labels(["happy", "contempt"])
    assert to_canonical(np.array([0.0, 1.0], dtype=F32), label_map, 0.05) == (None, "no_known_emotion")


def test_missing_emotions_count_as_zero():
    label_map = resolve_labels(["sad", "happy"])
    out, reason = to_canonical(np.array([0.25, 0.75], dtype=F32), label_map, 0.05)
    assert reason is None
    np.testing.assert_allclose(out, [0, 0.75, 0.25, 0, 0, 0, 0])


def test_batch_wrong_width_rejects_every_row():
    out, codes = to_canonical_batch(np.ones((3, 5), dtype=F32) / 5, CANON, 0.05)
    assert (codes == REASON_CODE["wrong_length"]).all() and not out.any()


# ---------------------------------------------------------------- property: per-frame == batch
LABEL_MAPS = [resolve_labels(x, allow_preset=True) for x in
              ((), ["fer2013"], ["ferplus"], ["hsemotion"], ["happy", "sad", "neutral"],
               ["happy", "contempt"])]
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1e-9, math.nan, math.inf, -math.inf, 3e38, 1e-38])


@st.composite
def batches(draw):
    label_map = draw(st.sampled_from(LABEL_MAPS))
    width = label_map.input_length
    element = st.one_of(st.floats(0.0, 1.0, width=32), SPECIAL,
                        st.floats(allow_nan=True, allow_infinity=True, width=32))
    rows = draw(st.lists(st.lists(element, min_size=width, max_size=width), min_size=1, max_size=20))
    # Also realistic rows: a distribution, possibly scaled by a rounding error.
    for _ in range(draw(st.integers(0, 5))):
        p = np.asarray(draw(st.lists(st.floats(0.0, 1.0, width=32), min_size=width, max_size=width)))
        if p.sum() > 0:
            p = p / p.sum() * draw(st.floats(0.9, 1.1))
        rows.append([float(x) for x in p])
    tol = draw(st.sampled_from([0.0, 0.05, 0.2, 1000.0]))
    return label_map, np.asarray(rows, dtype=F32), tol


@settings(derandomize=True, max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_per_frame_and_batch_agree_row_by_row(case):
    label_map, rows, tol = case
    with np.errstate(all="ignore"):
        out_batch, codes = to_canonical_batch(rows, label_map, tol)
    for i, row in enumerate(rows):
        with np.errstate(all="ignore"):
            out, reason = to_canonical(row, label_map, tol)
        expected_code = ACCEPTED if reason is None else REASON_CODE[reason]
        assert codes[i] == expected_code, (row, reason, codes[i])
        # The node gets the message field as array.array('f'): same answer, same bits.
        out_a, reason_a = to_canonical(array("f", row.tobytes()), label_map, tol)
        assert reason_a == reason
        if reason is None:
            assert np.isfinite(out).all()
            assert out.dtype == F32 and out.shape == (7,)
            assert bits(out) == bits(out_batch[i]), (row, out, out_batch[i])
            assert bits(out_a) == bits(out)
        else:
            assert out is None and out_a is None
            assert not out_batch[i].any()


def test_array_array_input_as_rclpy_gives_it():
    out, reason = to_canonical(array("f", HAPPY.tolist()), CANON, 0.05)
    assert reason is None and out.dtype == F32 and out.shape == (7,)
    assert bits(out) == bits(canon(HAPPY)[0])
    assert to_canonical(array("f", [0.5, 0.5]), CANON, 0.05) == (None, "wrong_length")


def test_non_float32_input_is_rounded_to_float32_first_like_the_batch():
    values = [0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1]
    out, reason = to_canonical(np.asarray(values, dtype=np.float64), CANON, 0.05)
    batch, codes = to_canonical_batch(np.asarray([values]), CANON, 0.05)
    assert reason is None and codes[0] == ACCEPTED and bits(out) == bits(batch[0])
    assert to_canonical(np.ones((7, 1), dtype=F32) / 7, CANON, 0.05) == (None, "wrong_length")


def test_sums_are_sequential_in_both_paths_at_the_tolerance_edge():
    """8 labels (FER+): numpy's own sum of 8 floats is pairwise, which can differ from
    left-to-right addition in the last bit. Both paths add left to right, so a
    tolerance set exactly at that sum's distance from 1 gives the same reason."""
    ferplus = resolve_labels(["ferplus"], allow_preset=True)
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(20000):
        # Exponents far apart, so float64 addition of float32 values rounds.
        row = (rng.dirichlet(np.ones(8)) * 10.0 ** -rng.integers(0, 3, 8) * 10.0 ** -rng.uniform(0, 12, 8))
        row[rng.integers(8)] = 1.0
        row = (row * rng.uniform(0.9, 1.1)).astype(F32)
        seq = 0.0
        for x in row.tolist():
            seq += x
        pairwise = float(row.astype(np.float64).sum())
        if seq == pairwise:
            continue
        found += 1
        for tol in (abs(seq - 1.0), abs(pairwise - 1.0)):
            out, reason = to_canonical(row, ferplus, tol)
            batch, codes = to_canonical_batch(row[None, :], ferplus, tol)
            assert codes[0] == (ACCEPTED if reason is None else REASON_CODE[reason])
            assert reason == (None if abs(seq - 1.0) <= tol else "bad_sum")
            if reason is None:
                assert bits(out) == bits(batch[0])
        if found >= 50:
            break
    assert found, "no row where the summation order matters: the test proves nothing"


def test_quotients_are_float32_divisions():
    """Each canonical value is float32(value) / float32(kept), correctly rounded."""
    rng = np.random.default_rng(3)
    for _ in range(2000):
        row = (rng.dirichlet(np.ones(7) * 0.3) * rng.uniform(0.96, 1.04)).astype(F32)
        out, reason = to_canonical(row, CANON, 0.05)
        assert reason is None
        kept = 0.0
        for x in row.tolist():
            kept += x
        with np.errstate(all="ignore"):
            expected = row / np.float32(kept)
        assert expected.dtype == F32 and bits(out) == bits(expected)
