"""valence_ros.model.metrics against hand-computed values and invariants."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from valence_ros.model.metrics import ccc, mae, r2, regression_report, rmse

T = [1.0, 2.0, 3.0, 4.0]
P = [1.0, 2.0, 3.0, 5.0]


def test_hand_computed_values():
    # errors 0, 0, 0, 1
    assert mae(T, P) == pytest.approx(0.25)
    assert rmse(T, P) == pytest.approx(0.5)
    # SS_res = 1, SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert r2(T, P) == pytest.approx(0.8)
    # mean_t 2.5, mean_p 2.75; var_t 1.25, var_p 2.1875, cov 1.625
    # CCC = 2 * 1.625 / (1.25 + 2.1875 + 0.0625) = 3.25 / 3.5
    assert ccc(T, P) == pytest.approx(3.25 / 3.5)


def test_second_hand_computed_case():
    t = [0.0, 0.5, -0.5]
    p = [0.1, 0.4, -0.6]
    assert mae(t, p) == pytest.approx(0.1)
    assert rmse(t, p) == pytest.approx(0.1)
    # SS_res = 0.03, SS_tot = 0.5
    assert r2(t, p) == pytest.approx(1 - 0.03 / 0.5)
    # mean_t 0, mean_p -1/30; cov = (0 + 0.2 + 0.3)/3 = 1/6 (p deviations do not
    # change cov because t is centred); var_t = 1/6;
    # var_p = mean(p^2) - mean_p^2 = (0.01 + 0.16 + 0.36)/3 - 1/900
    var_p = 0.53 / 3 - 1 / 900
    expected = 2 * (1 / 6) / (1 / 6 + var_p + 1 / 900)
    assert ccc(t, p) == pytest.approx(expected)


def test_ccc_penalises_bias_and_scale_unlike_correlation():
    t = np.linspace(-1, 1, 101)
    assert ccc(t, t) == pytest.approx(1.0)
    assert ccc(t, t + 0.2) < 0.99  # Pearson r would be 1
    assert ccc(t, 2 * t) < 0.9
    assert ccc(t, -t) == pytest.approx(-1.0)
    assert r2(t, t) == 1.0
    assert r2(t, np.full_like(t, t.mean())) == pytest.approx(0.0)
    assert r2(t, -t) == pytest.approx(-3.0)


def test_degenerate_conventions():
    c = np.zeros(5)
    assert r2(c, c) == 1.0
    assert r2(c, c + 1) == 0.0
    assert ccc(c, c) == 1.0
    assert ccc(c, c + 1) == 0.0


def test_input_errors():
    with pytest.raises(ValueError):
        mae([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        ccc([], [])


def test_report_is_json_ready():
    rep = regression_report(np.array(T, dtype=np.float32), np.array(P, dtype=np.float32))
    assert set(rep) == {"n", "mae", "rmse", "r2", "ccc"}
    assert rep["n"] == 4 and all(isinstance(v, float) for k, v in rep.items() if k != "n")
    assert rep["r2"] == pytest.approx(0.8)


finite = st.floats(-10, 10, allow_nan=False, width=64)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=finite), st.data())
def test_properties(t, data):
    p = data.draw(arrays(np.float64, t.shape, elements=finite))
    c = ccc(t, p)
    assert -1 - 1e-9 <= c <= 1 + 1e-9
    assert c == pytest.approx(ccc(p, t), abs=1e-9)  # symmetric
    assert r2(t, p) <= 1.0
    assert rmse(t, p) >= mae(t, p) - 1e-12
    # CCC = rho * C_b (Lin 1989): |CCC| <= |Pearson r| when r is defined
    st_, sp = t.std(), p.std()
    if st_ > 1e-6 and sp > 1e-6:
        rho = float(np.corrcoef(t, p)[0, 1])
        assert abs(c) <= abs(rho) + 1e-9
        alt = 2 * rho * st_ * sp / (st_ ** 2 + sp ** 2 + (t.mean() - p.mean()) ** 2)
        assert c == pytest.approx(alt, abs=1e-9)
    assert math.isfinite(r2(t, p))
