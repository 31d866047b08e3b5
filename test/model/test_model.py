"""MLPRegressor architecture, the card's usage, and load_regressor's contract."""
import collections
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

import valence_ros
from valence_ros.model.mlp import (
    DEFAULT_WEIGHTS_PATH,
    MLPRegressor,
    ModelLoadError,
    load_regressor,
    num_parameters,
    save_regressor,
)

torch.set_num_threads(1)

CARD_INPUT = [[0.01, 0.95, 0.02, 0.01, 0.005, 0.003, 0.001]]
KEYS = ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias", "model.4.weight", "model.4.bias"]
SHAPES = [(64, 7), (64,), (32, 64), (32,), (1, 32), (1,)]


def random_model(seed=1, **kw):
    torch.manual_seed(seed)
    return MLPRegressor(**kw).eval()


def same_function(a, b, n=64):
    x = torch.from_numpy(np.random.default_rng(0).dirichlet(np.ones(7), size=n).astype(np.float32))
    with torch.no_grad():
        return torch.allclose(a(x), b(x), atol=1e-7)


# ------------------------------------------------------------------ architecture


def test_architecture_and_keys():
    m = MLPRegressor(input_size=7)
    assert isinstance(m, nn.Module) and isinstance(m.model, nn.Sequential)
    kinds = [type(layer) for layer in m.model]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    sd = m.state_dict()
    assert list(sd) == KEYS
    assert [tuple(v.shape) for v in sd.values()] == SHAPES
    assert num_parameters(m) == 7 * 64 + 64 + 64 * 32 + 32 + 32 + 1 == 2625
    assert m(torch.zeros(5, 7)).shape == (5, 1)
    assert m.config() == {"input_size": 7, "hidden_sizes": [64, 32], "output_size": 1}


def test_package_exports_lazily():
    assert valence_ros.MLPRegressor is MLPRegressor
    assert valence_ros.load_regressor is load_regressor
    assert issubclass(ModelLoadError, ValueError)


def test_card_usage_verbatim(tmp_path, monkeypatch):
    src = random_model()
    monkeypatch.chdir(tmp_path)
    torch.save(src.state_dict(), "pytorch_model.bin")
    # --- the card's snippet, with our import path ---
    from valence_ros.model.mlp import MLPRegressor as CardMLP

    model = CardMLP(input_size=7)
    model.load_state_dict(torch.load("pytorch_model.bin"))
    model.eval()
    emotion_probs = torch.tensor([[0.01, 0.95, 0.02, 0.01, 0.005, 0.003, 0.001]])  # [batch_size, 7]
    valence = model(emotion_probs)
    # --- end of snippet ---
    with torch.no_grad():
        assert valence.item() == pytest.approx(src(emotion_probs).item())
    assert same_function(model, src)


def test_card_usage_with_shipped_weights_gives_card_example(tmp_path, monkeypatch):
    # the card prints "e.g. 0.93" for its example; FaceReader rule: 0.95 - 0.02
    monkeypatch.chdir(tmp_path)
    torch.save(torch.load(DEFAULT_WEIGHTS_PATH, weights_only=True), "pytorch_model.bin")
    model = MLPRegressor(input_size=7)
    model.load_state_dict(torch.load("pytorch_model.bin"))
    model.eval()
    assert model(torch.tensor(CARD_INPUT)).item() == pytest.approx(0.93, abs=0.01)


# ------------------------------------------------------------------ shipped weights


def test_shipped_weights_are_a_plain_state_dict():
    assert DEFAULT_WEIGHTS_PATH.is_file()
    sd = torch.load(DEFAULT_WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert list(sd) == KEYS
    assert [tuple(v.shape) for v in sd.values()] == SHAPES
    cfg = json.loads((DEFAULT_WEIGHTS_PATH.parent / "config.json").read_text())
    assert cfg == {"input_size": 7, "hidden_sizes": [64, 32], "output_size": 1}


def test_shipped_weights_one_hot_checks():
    m = load_regressor()
    assert not m.training
    assert m.source == "shipped default"
    with torch.no_grad():
        v = m(torch.eye(7)).squeeze(1).tolist()
    d = dict(zip(valence_ros.EMOTIONS, v))
    assert d["happy"] > 0.9
    for e in ("sad", "angry", "scared", "disgusted"):
        assert d[e] < -0.9, e
    assert abs(d["neutral"]) < 0.05


# ------------------------------------------------------------------ foreign layouts


def renamed(sd, names):
    return collections.OrderedDict((n, v.clone()) for n, v in zip(names, sd.values()))


@pytest.mark.parametrize(
    "names",
    [
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"],
        ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight", "net.4.bias"],
        ["a", "b", "c", "d", "e", "f"],
        ["layers.0.linear.weight", "layers.0.linear.bias", "layers.1.linear.weight",
         "layers.1.linear.bias", "head.weight", "head.bias"],
    ],
)
@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth", ".safetensors"])
def test_foreign_key_layouts(tmp_path, names, suffix):
    src = random_model(seed=3)
    sd = renamed(src.state_dict(), names)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(dict(sd), str(path))  # safetensors re-orders keys by name
    else:
        torch.save(sd, path)
    m = load_regressor(path)
    assert isinstance(m, MLPRegressor) and not m.training
    assert list(m.state_dict()) == KEYS
    assert same_function(m, src)
    assert m.source == str(path)


def test_checkpoint_wrapper_scrambled_order_and_directory(tmp_path):
    src = random_model(seed=4)
    items = list(renamed(src.state_dict(), ["x.w", "x.b", "y.w", "y.b", "z.w", "z.b"]).items())
    scrambled = dict([items[4], items[1], items[2], items[5], items[0], items[3]])
    torch.save({"epoch": 7, "state_dict": scrambled, "optimizer": {"lr": 0.1}}, tmp_path / "pytorch_model.bin")
    assert same_function(load_regressor(tmp_path / "pytorch_model.bin"), src)
    assert same_function(load_regressor(tmp_path), src)  # a directory holding it


def test_safetensors_content_under_torch_suffix(tmp_path):
    from safetensors.torch import save_file

    src = random_model(seed=5)
    save_file(dict(src.state_dict()), str(tmp_path / "model.bin"))
    assert same_function(load_regressor(tmp_path / "model.bin"), src)


def test_config_json_is_honoured(tmp_path):
    src = random_model(seed=6, hidden_sizes=(16, 8, 4))
    sd = renamed(src.state_dict(), [f"p{i}" for i in range(8)])
    torch.save(sd, tmp_path / "weights.pt")
    (tmp_path / "config.json").write_text(json.dumps({"input_size": 7, "hidden_sizes": [16, 8, 4], "output_size": 1}))
    m = load_regressor(tmp_path / "weights.pt")
    assert m.hidden_sizes == (16, 8, 4)
    assert same_function(m, src)


def test_unrelated_config_json_is_ignored(tmp_path):
    src = random_model(seed=7)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 3}))
    assert same_function(load_regressor(tmp_path / "w.pt"), src)


def test_save_regressor_round_trip(tmp_path):
    src = random_model(seed=8, hidden_sizes=(12, 6))
    for name in ("a/m.pt", "b/m.safetensors"):
        p = save_regressor(src, tmp_path / name)
        assert json.loads((p.parent / "config.json").read_text())["hidden_sizes"] == [12, 6]
        assert same_function(load_regressor(p), src)


# ------------------------------------------------------------------ refusals


def test_refuses_code_carrying_pickle(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.bin"
    sd = dict(random_model().state_dict())
    sd["model.0.weight"] = Evil()
    torch.save(sd, path)
    with pytest.raises(ModelLoadError) as err:
        load_regressor(path)
    msg = str(err.value)
    assert str(path) in msg and "refused" in msg and "system" in msg
    assert not marker.exists()


class Payload:
    """An arbitrary (harmless) class: still refused, it is not a tensor."""

    def __init__(self):
        self.x = 1


@pytest.mark.parametrize("legacy", [False, True])
def test_refuses_objects_other_than_tensors(tmp_path, legacy):
    path = tmp_path / "obj.pt"
    torch.save({"model.0.weight": Payload()}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ModelLoadError, match="refused") as err:
        load_regressor(path)
    assert "Payload" in str(err.value)


def test_wrong_shapes(tmp_path):
    other = MLPRegressor(hidden_sizes=(32, 32))
    path = tmp_path / "w.pt"
    torch.save(other.state_dict(), path)
    with pytest.raises(ModelLoadError) as err:
        load_regressor(path)
    msg = str(err.value)
    assert str(path) in msg and "shape mismatch" in msg and "[32, 7]" in msg and "[64, 7]" in msg


def test_config_mismatching_the_file(tmp_path):
    torch.save(random_model().state_dict(), tmp_path / "w.pt")
    (tmp_path / "config.json").write_text(json.dumps({"hidden_sizes": [128, 64]}))
    with pytest.raises(ModelLoadError, match="shape mismatch"):
        load_regressor(tmp_path / "w.pt")


def test_missing_and_extra_tensors(tmp_path):
    sd = dict(random_model().state_dict())
    del sd["model.4.bias"]
    torch.save(sd, tmp_path / "missing.pt")
    with pytest.raises(ModelLoadError, match="missing tensors") as err:
        load_regressor(tmp_path / "missing.pt")
    assert "missing.pt" in str(err.value) and "model.4.bias" in str(err.value)
    sd["model.4.bias"] = torch.zeros(1)
    sd["extra"] = torch.zeros(3)
    torch.save(sd, tmp_path / "extra.pt")
    with pytest.raises(ModelLoadError, match="extra"):
        load_regressor(tmp_path / "extra.pt")


@pytest.mark.parametrize("content", [b"", b"not a model at all" * 20, b"PK\x03\x04garbage", b"\x80\x02garbage"])
@pytest.mark.parametrize("suffix", [".bin", ".pt", ".safetensors"])
def test_garbage_files(tmp_path, content, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError) as err:
        load_regressor(path)
    assert str(path) in str(err.value)


def test_non_tensor_payloads(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelLoadError, match="state_dict"):
        load_regressor(tmp_path / "list.pt")
    torch.save({"epoch": 3}, tmp_path / "nothing.pt")
    with pytest.raises(ModelLoadError, match="no tensors"):
        load_regressor(tmp_path / "nothing.pt")


def test_missing_file_and_bad_config(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_regressor(tmp_path / "nope.pt")
    with pytest.raises(ModelLoadError, match="no weights"):
        load_regressor(tmp_path)
    torch.save(random_model().state_dict(), tmp_path / "w.pt")
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ModelLoadError, match="config.json"):
        load_regressor(tmp_path / "w.pt")
    (tmp_path / "config.json").write_text(json.dumps({"hidden_sizes": [64, -1]}))
    with pytest.raises(ModelLoadError, match="hidden_sizes"):
        load_regressor(tmp_path / "w.pt")


def test_non_finite_and_integer_weights(tmp_path):
    sd = dict(random_model().state_dict())
    sd["model.2.weight"] = sd["model.2.weight"].clone()
    sd["model.2.weight"][0, 0] = float("nan")
    torch.save(sd, tmp_path / "nan.pt")
    with pytest.raises(ModelLoadError, match="NaN"):
        load_regressor(tmp_path / "nan.pt")
    sd["model.2.weight"] = torch.zeros(32, 64, dtype=torch.int64)
    torch.save(sd, tmp_path / "int.pt")
    with pytest.raises(ModelLoadError, match="dtype"):
        load_regressor(tmp_path / "int.pt")


def test_half_precision_weights_are_converted(tmp_path):
    src = random_model(seed=9)
    torch.save({k: v.half() for k, v in src.state_dict().items()}, tmp_path / "half.pt")
    m = load_regressor(tmp_path / "half.pt")
    assert all(v.dtype == torch.float32 for v in m.state_dict().values())
