"""FastRegressor == the torch module (within 1e-5), per frame and in batches; the
shipped weights load without torch."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

from valence_ros.model.fast_inference import (
    DEFAULT_SAFETENSORS_PATH,
    FastRegressor,
    ModelLoadError,
    layer_shapes,
    read_config,
)
from valence_ros.model.mlp import DEFAULT_WEIGHTS_PATH, MLPRegressor, load_regressor, save_regressor

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


def test_predict_batch_is_bit_identical_whatever_the_process_blas_pool(shipped):
    """The same frames give the same bytes with the process's BLAS pool at 1 or 4
    threads (OpenBLAS's threaded product changed the last bit of some rows: a study
    worker and an in-process run of the same bag once wrote different CSVs)."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(3)
    X = rng.dirichlet(np.ones(7) * 0.3, size=50_000).astype(np.float32)
    f = shipped[1]
    outputs = []
    for threads in (1, 4):
        with threadpool_limits(threads, user_api="blas"):
            outputs.append(f.predict_batch(X).tobytes())
    assert outputs[0] == outputs[1]


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


# ------------------------------------------------------------------ shipped weights without torch


def test_shipped_safetensors_equal_the_pt():
    assert DEFAULT_SAFETENSORS_PATH.parent == DEFAULT_WEIGHTS_PATH.parent
    st_tensors = load_file(str(DEFAULT_SAFETENSORS_PATH))
    pt = torch.load(DEFAULT_WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert list(st_tensors) == sorted(pt) and set(st_tensors) == set(pt)
    for k, v in pt.items():
        assert st_tensors[k].dtype == np.float32 and np.array_equal(st_tensors[k], v.numpy()), k


def test_layer_shapes_match_the_module():
    cfg = read_config(DEFAULT_WEIGHTS_PATH.parent / "config.json")
    assert layer_shapes(cfg) == MLPRegressor(**{**cfg, "hidden_sizes": tuple(cfg["hidden_sizes"])}).expected_shapes()
    other = {"input_size": 5, "hidden_sizes": [8, 4, 3], "output_size": 1}
    assert layer_shapes(other) == MLPRegressor(5, (8, 4, 3), 1).expected_shapes()


def test_load_default_equals_torch_loader(shipped):
    f = FastRegressor.load()
    assert f.source == "shipped default" and repr(f) == "FastRegressor(7->64->32->1, source='shipped default')"
    ref = FastRegressor.from_module(load_regressor())
    for a, b in zip(f._WT + f._b + f._Wa, ref._WT + ref._b + ref._Wa):
        assert np.array_equal(a, b)
    X = np.random.default_rng(5).dirichlet(np.ones(7) * 0.5, size=5000).astype(np.float32)
    assert np.array_equal(f.predict_batch(X), ref.predict_batch(X))
    assert all(f.predict_one(x) == ref.predict_one(x) for x in X[:200])
    assert np.max(np.abs(f.predict_batch(X) - torch_predict(shipped[0], X))) < 1e-5


def test_load_default_does_not_import_torch():
    code = ("import sys\n"
            "from valence_ros.model.fast_inference import FastRegressor\n"
            "f = FastRegressor.load()\n"
            "assert f.source == 'shipped default', f.source\n"
            "print(f.predict_one([0.01, 0.95, 0.02, 0.01, 0.005, 0.003, 0.001]))\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == pytest.approx(0.93, abs=0.01)


def _copy_shipped(tmp_path, tensors=None, config=True):
    d = tmp_path / "w"
    d.mkdir()
    path = d / "valence_regressor.safetensors"
    if tensors is None:
        path.write_bytes(DEFAULT_SAFETENSORS_PATH.read_bytes())
    else:
        save_file(tensors, str(path))
    if config:
        (d / "config.json").write_bytes((DEFAULT_WEIGHTS_PATH.parent / "config.json").read_bytes())
    return path


def test_load_safetensors_round_trip_and_config(tmp_path):
    path = _copy_shipped(tmp_path)
    f = FastRegressor.load_safetensors(path)
    assert f.source == str(path)
    X = np.eye(7, dtype=np.float32)
    assert np.array_equal(f.predict_batch(X), FastRegressor.load().predict_batch(X))
    # another architecture, described by its config.json
    torch.manual_seed(4)
    m = MLPRegressor(hidden_sizes=(16, 8, 4)).eval()
    p = save_regressor(m, tmp_path / "deep" / "model.safetensors")
    g = FastRegressor.load_safetensors(p)
    assert g.hidden_sizes == (16, 8, 4)
    assert np.max(np.abs(g.predict_batch(X) - torch_predict(m, X))) < 1e-5


@pytest.mark.parametrize("case", ["truncated", "garbage", "empty", "missing"])
def test_load_safetensors_unreadable(tmp_path, case):
    path = _copy_shipped(tmp_path)
    data = path.read_bytes()
    if case == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif case == "garbage":
        path.write_bytes(b"\x00" * 64)
    elif case == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(ModelLoadError) as err:
        FastRegressor.load_safetensors(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and ("not found" if case == "missing" else "not a readable safetensors") in msg


def test_load_safetensors_wrong_tensors(tmp_path):
    good = load_file(str(DEFAULT_SAFETENSORS_PATH))
    # a layer of the wrong shape
    path = _copy_shipped(tmp_path, {**good, "model.2.weight": np.zeros((16, 64), np.float32)})
    with pytest.raises(ModelLoadError, match=r"do not match the architecture in config\.json") as err:
        FastRegressor.load_safetensors(path)
    assert str(err.value).startswith(str(path)) and "model.2.weight[16, 64]" in str(err.value)
    # foreign key names are not guessed here (FastRegressor.load(path) matches by shape)
    (tmp_path / "w").rename(tmp_path / "w1")
    path = _copy_shipped(tmp_path, {k.replace("model.", "net."): v for k, v in good.items()})
    with pytest.raises(ModelLoadError, match="net.0.weight"):
        FastRegressor.load_safetensors(path)
    # a config.json that disagrees with the file
    (tmp_path / "w").rename(tmp_path / "w2")
    path = _copy_shipped(tmp_path)
    (path.parent / "config.json").write_text(json.dumps({"hidden_sizes": [64, 16]}))
    with pytest.raises(ModelLoadError, match="model.2.weight"):
        FastRegressor.load_safetensors(path)
    (path.parent / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json"):
        FastRegressor.load_safetensors(path)


def test_load_safetensors_bad_values(tmp_path):
    good = load_file(str(DEFAULT_SAFETENSORS_PATH))
    bad = dict(good)
    bad["model.0.bias"] = good["model.0.bias"].copy()
    bad["model.0.bias"][3] = np.nan
    path = _copy_shipped(tmp_path, bad)
    with pytest.raises(ModelLoadError, match="model.0.bias holds NaN"):
        FastRegressor.load_safetensors(path)
    path.unlink()
    save_file({**good, "model.4.bias": np.zeros(1, np.int32)}, str(path))
    with pytest.raises(ModelLoadError, match="model.4.bias has non-float dtype int32"):
        FastRegressor.load_safetensors(path)
    path.unlink()
    save_file({k: v.astype(np.float16) for k, v in good.items()}, str(path))
    half = FastRegressor.load_safetensors(path)
    X = np.eye(7, dtype=np.float32)
    assert np.max(np.abs(half.predict_batch(X) - FastRegressor.load().predict_batch(X))) < 1e-2


def test_user_paths_still_use_the_torch_loader(tmp_path):
    import valence_ros.model.mlp

    assert valence_ros.model.mlp.ModelLoadError is ModelLoadError  # one class, defined torch-free
    # a directory holding both shipped files resolves to the .pt (load_regressor's rules)
    assert load_regressor(DEFAULT_WEIGHTS_PATH.parent).source == str(DEFAULT_WEIGHTS_PATH)
    assert FastRegressor.load(DEFAULT_WEIGHTS_PATH.parent).source == str(DEFAULT_WEIGHTS_PATH)
    # an explicit .safetensors path goes through load_regressor too (tolerant key matching)
    good = load_file(str(DEFAULT_SAFETENSORS_PATH))
    path = _copy_shipped(tmp_path, {k.replace("model.", "net."): v for k, v in good.items()})
    f = FastRegressor.load(path)
    X = np.eye(7, dtype=np.float32)
    assert f.source == str(path) and np.array_equal(f.predict_batch(X), FastRegressor.load().predict_batch(X))


def _run(code):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_user_safetensors_in_strict_layout_loads_without_torch(tmp_path):
    torch.manual_seed(6)
    m = MLPRegressor(7, (16, 8, 4), 1).eval()
    path = save_regressor(m, tmp_path / "mine" / "weights.safetensors")  # + config.json
    default_layout = _copy_shipped(tmp_path, load_file(str(DEFAULT_SAFETENSORS_PATH)), config=False)
    code = ("import sys\n"
            "import numpy as np\n"
            "from valence_ros.model.fast_inference import FastRegressor\n"
            f"for p in ({str(path)!r}, {str(default_layout)!r}):\n"
            "    f = FastRegressor.load(p)\n"
            "    assert f.source == p, f.source\n"
            "    print(f.predict_batch(np.eye(7, dtype=np.float32)).tolist())\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    X = np.eye(7, dtype=np.float32)
    assert np.max(np.abs(np.array(got[0]) - torch_predict(m, X))) < 1e-5
    assert np.array_equal(np.array(got[1], dtype=np.float32), FastRegressor.load().predict_batch(X))


def test_user_safetensors_with_foreign_keys_goes_through_torch(tmp_path):
    good = load_file(str(DEFAULT_SAFETENSORS_PATH))
    names = {"model.0.weight": "fc1.weight", "model.0.bias": "fc1.bias", "model.2.weight": "fc2.weight",
             "model.2.bias": "fc2.bias", "model.4.weight": "out.weight", "model.4.bias": "out.bias"}
    path = _copy_shipped(tmp_path, {names[k]: v for k, v in good.items()}, config=False)
    f = FastRegressor.load(path)
    X = np.random.default_rng(8).dirichlet(np.ones(7), size=100).astype(np.float32)
    assert f.source == str(path)
    assert np.array_equal(f.predict_batch(X), FastRegressor.load().predict_batch(X))
    # a config.json that disagrees with the file also falls back to torch, which reports it
    (path.parent / "config.json").write_text(json.dumps({"hidden_sizes": [5]}))
    with pytest.raises(ModelLoadError, match=str(path)):
        FastRegressor.load(path)


def test_torch_missing_is_a_model_load_error(tmp_path):
    path = save_regressor(MLPRegressor().eval(), tmp_path / "w.pt")
    code = ("import sys\n"
            "sys.modules['torch'] = None\n"
            "from valence_ros.model.fast_inference import FastRegressor, ModelLoadError\n"
            f"assert FastRegressor.load({str(DEFAULT_SAFETENSORS_PATH)!r}).source == {str(DEFAULT_SAFETENSORS_PATH)!r}\n"
            "try:\n"
            f"    FastRegressor.load({str(path)!r})\n"
            "except ModelLoadError as exc:\n"
            "    print(exc)\n"
            "else:\n"
            "    raise SystemExit('no error')\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"{path}: loading this file needs torch (pip install torch==2.13.0), "
                                   "or use a .safetensors file with model.N.* keys")
