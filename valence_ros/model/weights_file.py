"""What a weights file is, independent of torch: the load error, the architecture
config (``config.json`` beside the weights) and the state_dict layout it implies.

Shared by the torch loader (:mod:`valence_ros.model.mlp`) and the numpy fast path
(:mod:`valence_ros.model.fast_inference`), so neither imports the other for them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from valence_ros.core.emotions import NUM_EMOTIONS
from valence_ros.core.input_files import (
    MiB, InputFileError, StrPath, check_input_path, check_regular_file, read_regular_bytes,
)

DEFAULT_CONFIG = {"input_size": NUM_EMOTIONS, "hidden_sizes": [64, 32], "output_size": 1}
# The shipped model is 11 kB; the limits only stop a huge or sparse file from
# being read into memory whole.
MAX_WEIGHTS_BYTES = 256 * MiB
MAX_CONFIG_BYTES = 1 * MiB


class ModelLoadError(ValueError):
    """Weights could not be loaded; the message names the file and why."""


def weights_path_kind(path: StrPath) -> str:
    """'file' or 'directory'; anything else (FIFO, device, socket, missing) is a
    ModelLoadError, raised before anything opens the path."""
    try:
        return check_input_path(path, "weights path")
    except InputFileError as error:
        raise ModelLoadError(str(error)) from None


def check_weights_size(path: StrPath) -> None:
    """A regular file within MAX_WEIGHTS_BYTES (stat only), else ModelLoadError."""
    try:
        check_regular_file(path, "weights file", MAX_WEIGHTS_BYTES)
    except InputFileError as error:
        raise ModelLoadError(str(error)) from None


def read_weights_bytes(path: StrPath) -> bytes:
    """The whole weights file, read once through a checked, non-blocking open."""
    try:
        return read_regular_bytes(path, "weights file", MAX_WEIGHTS_BYTES)
    except InputFileError as error:
        raise ModelLoadError(str(error)) from None


def read_config(config_path: StrPath) -> dict:
    """Architecture from a config.json (``input_size``/``hidden_sizes``/``output_size``).

    Missing keys take the defaults; other keys are ignored. A file with none
    of the three keys (e.g. an unrelated config) yields the defaults.
    """
    config_path = Path(config_path)
    try:
        raw = json.loads(read_regular_bytes(config_path, "config.json", MAX_CONFIG_BYTES).decode("utf-8"))
    except InputFileError as exc:
        raise ModelLoadError(str(exc)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{config_path}: cannot read config.json: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{config_path}: config.json must hold a JSON object, got {type(raw).__name__}")
    cfg = dict(DEFAULT_CONFIG)

    def _int(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelLoadError(f"{config_path}: {key!r} must be a positive integer, got {value!r}")
        return value

    if "input_size" in raw:
        cfg["input_size"] = _int("input_size", raw["input_size"])
    if "output_size" in raw:
        cfg["output_size"] = _int("output_size", raw["output_size"])
    if "hidden_sizes" in raw:
        hs = raw["hidden_sizes"]
        if not isinstance(hs, list):
            raise ModelLoadError(f"{config_path}: 'hidden_sizes' must be a list of positive integers, got {hs!r}")
        cfg["hidden_sizes"] = [_int("hidden_sizes", h) for h in hs]
    return cfg


def config_beside(weights_path: Path) -> dict:
    """The architecture of a weights file: its sibling config.json, else the defaults.
    A config.json that is there but not a regular file (FIFO, device, directory,
    dangling link) is refused, not skipped."""
    cfg_path = Path(weights_path).parent / "config.json"
    return read_config(cfg_path) if os.path.lexists(cfg_path) else dict(DEFAULT_CONFIG)


def layer_shapes(cfg: dict) -> list:
    """[(key, shape)] of an MLPRegressor state_dict for ``cfg``, in layer order
    (``model.0.weight``, ``model.0.bias``, ``model.2.weight``, ...: the
    Linear layers sit at even indices of the Sequential, ReLUs between)."""
    sizes = [cfg["input_size"], *cfg["hidden_sizes"], cfg["output_size"]]
    shapes = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes += [(f"model.{2 * i}.weight", (n_out, n_in)), (f"model.{2 * i}.bias", (n_out,))]
    return shapes
