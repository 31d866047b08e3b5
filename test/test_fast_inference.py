"""FastRegressor == the torch module (within 1e-5), per frame and in batches."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from valence_ros.fast_inference import FastRegressor
from valence_ros.model import DEFAULT_WEIGHTS_PATH, MLPRegressor, load_regressor, save_regressor

torch.set_num_threads(1)


def torch_predict(model, X):
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(X, dtype=np.float32).reshape(-1, 7))).numpy()[:, 0]


@pytest.fixture(scope="module")
def shipped():
    m = load_regressor()
    return m, FastRegressor.from_module(m)


@pytest.fixture(scope="module")
def random_pair():
    torch.manual_seed(11)
    m = MLPRegressor().eval()
    return m, FastRegressor.from_module(m)


prob_vectors = st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=7, max_size=7)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(prob_vectors)
def test_predict_one_equals_torch(shipped, random_pair, v):
    x = np.asarray(v, dtype=np.float32)
    if x.sum() > 0:
        x = (x / x.sum()).astype(np.float32)
    for m, f in (shipped, random_pair):
        got = f.predict_one(x)
        assert isinstance(got, float)
        assert got == pytest.approx(float(torch_predict(m, x)[0]), abs=1e-5)


def test_predict_one_basics(shipped):
    m, f = shipped
    x = np.array([0.01, 0.95, 0.02, 0.01, 0.005, 0.003, 0.001], dtype=np.float32)
    ref = float(torch_predict(m, x)[0])
    assert f.predict_one(x) == pytest.approx(ref, abs=1e-5)
    assert f(x) == f.predict_one(x)
    # repeated calls do not drift (buffers are reset each call)
    assert all(f.predict_one(x) == f.predict_one(x) for _ in range(3))
    # other dtypes / array-likes are converted rather than failing
    assert f.predict_one(x.astype(np.float64)) == pytest.approx(ref, abs=1e-5)
    assert f.predict_one(list(map(float, x))) == pytest.approx(ref, abs=1e-5)
    # not clipped: an out-of-simplex input may leave [-1, 1]
    assert abs(f.predict_one(np.full(7, 5.0, dtype=np.float32)) - float(torch_predict(m, np.full(7, 5.0))[0])) < 1e-4


def test_predict_batch_equals_torch_and_chunks(shipped, random_pair):
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(7) * 0.3, size=20_000).astype(np.float32)
    for m, f in (shipped, random_pair):
        ref = torch_predict(m, X)
        out = f.predict_batch(X)
        assert out.dtype == np.float32 and out.shape == (20_000,)
        assert np.max(np.abs(out - ref)) < 1e-5
        np.testing.assert_allclose(f.predict_batch(X, chunk_rows=7), out, atol=1e-6)
        np.testing.assert_allclose(f.predict_batch(X[:1001], chunk_rows=1000), out[:1001], atol=1e-6)
        assert np.max(np.abs(f.predict_batch(X.astype(np.float64)) - ref)) < 1e-5
        np.testing.assert_allclose([f.predict_one(r) for r in X[:50]], out[:50], atol=1e-6)
    f = shipped[1]
    assert f.predict_batch(np.empty((0, 7))).shape == (0,)
    assert f.predict_batch(X[0]).shape == (1,)
    with pytest.raises(ValueError):
        f.predict_batch(np.ones((3, 6)))


def test_generic_depth_path():
    torch.manual_seed(2)
    m = MLPRegressor(hidden_sizes=(16, 8, 4)).eval()
    f = FastRegressor.from_module(m)
    X = np.random.default_rng(1).dirichlet(np.ones(7), size=100).astype(np.float32)
    ref = torch_predict(m, X)
    assert np.max(np.abs(f.predict_batch(X) - ref)) < 1e-5
    assert max(abs(f.predict_one(x) - r) for x, r in zip(X, ref)) < 1e-5


def test_load_and_source(tmp_path):
    f = FastRegressor.load()
    assert f.source == "shipped default"
    assert f.input_size == 7 and f.hidden_sizes == (64, 32)
    torch.manual_seed(3)
    m = MLPRegressor().eval()
    p = save_regressor(m, tmp_path / "w.pt")
    g = FastRegressor.load(p)
    assert g.source == str(p)
    x = np.eye(7, dtype=np.float32)[1]
    assert g.predict_one(x) == pytest.approx(float(torch_predict(m, x)[0]), abs=1e-5)
    assert DEFAULT_WEIGHTS_PATH.name in repr(FastRegressor.load(DEFAULT_WEIGHTS_PATH))


def test_copy_has_own_buffers(shipped):
    _, f = shipped
    g = f.copy()
    assert g._bufs[0] is not f._bufs[0]
    x = np.eye(7, dtype=np.float32)[2]
    y = np.eye(7, dtype=np.float32)[1]
    a = f.predict_one(x)
    g.predict_one(y)
    assert f.predict_one(x) == a and g.predict_one(x) == a


def test_rejects_bad_layers():
    with pytest.raises(ValueError):
        FastRegressor([np.zeros((4, 7))], [np.zeros(3)])
    with pytest.raises(ValueError):
        FastRegressor([np.zeros((2, 7))], [np.zeros(2)])  # two outputs
