"""The seed-compatible valence regressor and its safe loader.

Architecture (the seed model card's): ``Linear(7, 64) -> ReLU ->
Linear(64, 32) -> ReLU -> Linear(32, 1)``, kept in ``self.model`` (an
``nn.Sequential``) so a state_dict has the card's keys ``model.0.*``,
``model.2.*``, ``model.4.*``. The card's usage works verbatim::

    from valence_ros.model import MLPRegressor
    model = MLPRegressor(input_size=7)
    model.load_state_dict(torch.load("pytorch_model.bin"))
    model.eval()
    model(torch.tensor([[0.01, 0.95, 0.02, 0.01, 0.005, 0.003, 0.001]]))

:func:`load_regressor` is the tolerant, safe way in: it accepts any key
names (tensors matched by shape in layer order), torch pickles (always
``weights_only=True``), safetensors and a ``config.json`` beside the
weights, and raises :class:`ModelLoadError` naming the file and the
problem for anything else.

The shipped weights are also in ``weights/valence_regressor.safetensors``
(same tensors, written by ``valence_train`` together with the ``.pt``);
:meth:`valence_ros.model.fast_inference.FastRegressor.load` reads that one with
numpy, without importing torch.
"""
from __future__ import annotations

import io
import json
import math
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from valence_ros.core.emotions import NUM_EMOTIONS
from valence_ros.core.input_files import StrPath
# Torch-free, so the shipped weights load without torch (FastRegressor.load()).
from valence_ros.model.weights_file import (
    DEFAULT_CONFIG, ModelLoadError, config_beside, read_config, read_weights_bytes, weights_path_kind,
)

__all__ = [
    "MLPRegressor",
    "ModelLoadError",
    "load_regressor",
    "save_regressor",
    "read_config",
    "DEFAULT_WEIGHTS_PATH",
    "DEFAULT_CONFIG",
    "WEIGHT_FILENAMES",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS_PATH = WEIGHTS_DIR / "valence_regressor.pt"

# Looked for, in this order, when load_regressor is given a directory.
WEIGHT_FILENAMES = (
    "valence_regressor.pt",
    "pytorch_model.bin",
    "model.safetensors",
    "model.pt",
    "model.pth",
    "model.bin",
)
_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


class MLPRegressor(nn.Module):
    """input -> [Linear -> ReLU] * len(hidden_sizes) -> Linear(output_size).

    With the defaults this is the seed card's 7 -> 64 -> 32 -> 1 MLP
    (2,625 parameters). Input: (batch, input_size) float tensor of emotion
    probabilities in :data:`valence_ros.EMOTIONS` order; output:
    (batch, output_size), unbounded (callers clip to [-1, 1]).
    """

    # Where the weights came from (set by load_regressor; FastRegressor.from_module reads it).
    source: str

    def __init__(self, input_size: int = NUM_EMOTIONS, hidden_sizes: Sequence[int] = (64, 32),
                 output_size: int = 1) -> None:
        super().__init__()
        self.input_size = int(input_size)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.output_size = int(output_size)
        if self.input_size < 1 or self.output_size < 1 or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(
                f"layer sizes must be >= 1, got input_size={input_size}, "
                f"hidden_sizes={hidden_sizes}, output_size={output_size}"
            )
        layers = []
        prev = self.input_size
        for h in self.hidden_sizes:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, self.output_size))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def config(self) -> dict:
        return {
            "input_size": self.input_size,
            "hidden_sizes": list(self.hidden_sizes),
            "output_size": self.output_size,
        }

    def expected_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """[(key, shape)] of the state_dict, in layer order."""
        return [(k, tuple(v.shape)) for k, v in self.state_dict().items()]


# --------------------------------------------------------------------------- reading tensors


def _looks_like_safetensors(data: bytes) -> bool:
    if len(data) < 9:
        return False
    n = int.from_bytes(data[:8], "little")
    return 0 < n < 100_000_000 and data[8:9] == b"{"


def _read_safetensors(data: bytes, path: Path) -> dict:
    try:
        from safetensors.torch import load
    except ImportError as exc:  # pragma: no cover - safetensors is a pinned dependency
        raise ModelLoadError(f"{path}: safetensors file but the 'safetensors' package is not installed") from exc
    try:
        return dict(load(data))
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError
        raise ModelLoadError(f"{path}: not a readable safetensors file: {exc}") from exc


def _unpickling_detail(exc: BaseException) -> str:
    """The informative line(s) of torch's weights_only refusal message."""
    keep = []
    for line in str(exc).splitlines():
        line = line.strip()
        if not line or line.startswith(("Weights only load failed", "Check the documentation")):
            continue
        line = line.replace("Please file an issue with the following so that we can make "
                            "`weights_only=True` compatible with your use case: ", "")
        line = line.replace("WeightsUnpickler error:", "").strip()
        if line:
            keep.append(line)
    return " ".join(keep) or type(exc).__name__


def _read_torch(data: bytes, path: Path) -> Any:
    if not data:
        raise ModelLoadError(f"{path}: empty file, not a PyTorch weights file")
    try:
        with warnings.catch_warnings():   # the one-line ModelLoadError says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only=True admits only tensors and plain containers; anything
        # else (a GLOBAL to os.system, a custom class, ...) is refused here.
        detail = _unpickling_detail(exc)
        if "GLOBAL" in detail or "global" in detail:
            raise ModelLoadError(
                f"{path}: refused: the pickle references code or objects other than tensors "
                f"({detail}); only plain state_dicts are accepted (torch.load weights_only=True)"
            ) from exc
        raise ModelLoadError(
            f"{path}: refused: not a weights-only PyTorch file ({detail}); only plain "
            f"state_dicts are accepted (torch.load weights_only=True)"
        ) from exc
    except Exception as exc:  # torch raises many types for corrupt files
        detail = str(exc).split("\n", 1)[0].strip()
        detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise ModelLoadError(f"{path}: not a readable PyTorch weights file ({detail})") from exc


_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "weights", "params")


def _unwrap(obj: Any, path: Path) -> dict:
    """Find the {name: tensor} mapping in a loaded object."""
    for _ in range(3):
        if not isinstance(obj, dict):
            raise ModelLoadError(
                f"{path}: expected a state_dict (a mapping of names to tensors), got {type(obj).__name__}"
            )
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        # Training checkpoints: {"state_dict": {...}, "epoch": 3, ...}
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors:
                others = sorted(str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor))
                raise ModelLoadError(
                    f"{path}: state_dict mixes tensors with non-tensor entries {others[:5]}"
                )
            raise ModelLoadError(f"{path}: no tensors found (keys: {sorted(map(str, obj))[:8]})")
        obj = inner
    raise ModelLoadError(f"{path}: state_dict nested too deeply")


def _natural_key(name: str) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def _group_order(names: Iterable[str]) -> list[str]:
    """Order keys by layer (natural sort of the prefix), weight before bias."""
    def key(n: str) -> tuple[list[int | str], int, list[int | str]]:
        prefix, _, leaf = str(n).rpartition(".")
        rank = {"weight": 0, "bias": 1}.get(leaf, 2)
        return (_natural_key(prefix), rank, _natural_key(leaf))
    return sorted(names, key=key)


def _fmt(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> str:
    return ", ".join(f"{k}{list(s)}" for k, s in shapes)


def _match(tensors: dict, expected: list[tuple[str, tuple[int, ...]]], path: Path) -> dict:
    """Map the file's tensors onto the expected (key, shape) list."""
    exp_shapes = [s for _, s in expected]
    found = [(k, tuple(v.shape)) for k, v in tensors.items()]
    if len(found) != len(expected):
        what = "missing tensors" if len(found) < len(expected) else "unexpected extra tensors"
        raise ModelLoadError(
            f"{path}: {what}: the MLP needs {len(expected)} tensors [{_fmt(expected)}] "
            f"but the file has {len(found)} [{_fmt(found)}]"
        )
    candidates = [list(tensors)]  # the file's own order (torch keeps insertion order)
    candidates.append(_group_order(tensors))  # safetensors sorts keys by name
    for order in candidates:
        if [tuple(tensors[k].shape) for k in order] == exp_shapes:
            return {ek: tensors[k] for (ek, _), k in zip(expected, order)}
    # Last resort: every expected shape is met by exactly one tensor.
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for k, s in found:
        by_shape.setdefault(s, []).append(k)
    if all(len(by_shape.get(s, ())) == 1 for s in exp_shapes) and len(set(exp_shapes)) == len(exp_shapes):
        return {ek: tensors[by_shape[s][0]] for ek, s in expected}
    raise ModelLoadError(
        f"{path}: shape mismatch: the MLP needs [{_fmt(expected)}] in layer order "
        f"but the file has [{_fmt(found)}]; for another architecture put a config.json "
        f"with input_size/hidden_sizes/output_size beside the weights"
    )


def _resolve(path: StrPath) -> Path:
    p = Path(path).expanduser()
    if weights_path_kind(p) == "directory":   # FIFOs, devices, sockets: refused unopened
        for name in WEIGHT_FILENAMES:
            if (p / name).is_file():
                return p / name
        hits = sorted(q for q in p.iterdir() if q.suffix in _SUFFIXES and q.is_file())
        if len(hits) == 1:
            return hits[0]
        raise ModelLoadError(
            f"{p}: directory holds {'no' if not hits else 'several'} weights files "
            f"({', '.join(q.name for q in hits) or 'looked for ' + ', '.join(WEIGHT_FILENAMES)}); "
            f"pass the file itself"
        )
    return p


def load_state_dict_file(path: StrPath) -> dict:
    """Read a weights file into a {name: tensor} dict (safe; no shape checks)."""
    p = _resolve(path)
    data = read_weights_bytes(p)   # one checked open; the parsers read from memory
    if p.suffix == ".safetensors" or (p.suffix not in (".pt", ".pth", ".bin", ".ckpt") and _looks_like_safetensors(data)):
        obj = _read_safetensors(data, p)
    else:
        try:
            obj = _read_torch(data, p)
        except ModelLoadError:
            if _looks_like_safetensors(data):  # e.g. a safetensors file named .bin
                obj = _read_safetensors(data, p)
            else:
                raise
    return _unwrap(obj, p)


def load_regressor(path: StrPath | None = None) -> MLPRegressor:
    """Load an eval-mode :class:`MLPRegressor`.

    ``path``: None for the weights shipped with the package
    (:data:`DEFAULT_WEIGHTS_PATH`); a weights file (``.pt``/``.pth``/``.bin``
    torch state_dict, always read with ``weights_only=True``, or
    ``.safetensors``); or a directory holding one (see
    :data:`WEIGHT_FILENAMES`). Tensors may use any key names: they are
    matched to the MLP's layers by shape in layer order. A ``config.json``
    beside the file sets ``input_size``/``hidden_sizes``/``output_size``.

    Raises :class:`ModelLoadError` (a ``ValueError``) naming the file and
    the problem: not found, unreadable, code-carrying pickle, wrong or
    missing tensors, non-finite values.
    """
    p = _resolve(DEFAULT_WEIGHTS_PATH if path is None else path)
    cfg = config_beside(p)
    model = MLPRegressor(cfg["input_size"], tuple(cfg["hidden_sizes"]), cfg["output_size"])
    tensors = load_state_dict_file(p)
    mapped = _match(tensors, model.expected_shapes(), p)
    state = {}
    for k, v in mapped.items():
        if not v.is_floating_point():
            raise ModelLoadError(f"{p}: tensor for {k} has non-float dtype {v.dtype}")
        v = v.detach().to(dtype=torch.float32, device="cpu")
        if not torch.isfinite(v).all():
            raise ModelLoadError(f"{p}: tensor for {k} holds NaN or infinite values")
        state[k] = v
    model.load_state_dict(state, strict=True)
    model.eval()
    model.source = "shipped default" if path is None else str(p)
    return model


def save_regressor(model: MLPRegressor, path: StrPath, write_config: bool = True) -> Path:
    """Save ``model``'s state_dict (``.safetensors`` by suffix, else a torch
    file loadable with ``weights_only=True``) and its config.json beside it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    if p.suffix == ".safetensors":
        from safetensors.torch import save_file
        save_file(state, str(p))
    else:
        torch.save(state, str(p))
    if write_config:
        (p.parent / "config.json").write_text(json.dumps(model.config(), indent=2) + "\n", encoding="utf-8")
    return p


def num_parameters(model: nn.Module) -> int:
    return sum(math.prod(t.shape) for t in model.state_dict().values())
