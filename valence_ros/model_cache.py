"""Verified numpy cache of the model weights for the offline tool (no torch import).

``FastRegressor.load()`` goes through ``model.load_regressor``, which needs
torch; importing torch takes about 1 s, a fifth of the offline tool's whole
budget for a one-hour session. The tool therefore keeps the float32 arrays
that ``FastRegressor.load()`` produced in a small ``.npz`` per weights
version and rebuilds the same ``FastRegressor`` from it next time (identical
arrays, so identical predictions; checked in test_offline_pipeline).

The key is a SHA-256 over everything the loader reads or is: the weights
(the given file plus a ``config.json`` beside it, or every file of a given
directory; the shipped weights directory for the default), their absolute
paths, and the source of ``model.py`` and ``fast_inference.py``. Any change
makes a new key; a miss, an unreadable entry or an unwritable cache simply
takes the normal (torch) path. Location: ``$VALENCE_ROS_CACHE_DIR``, else
``$XDG_CACHE_HOME/valence_ros``, else ``~/.cache/valence_ros``; set
``VALENCE_ROS_CACHE_DIR=off`` to disable it. The live node does not use it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["load_fast_regressor", "cache_dir", "ENV"]

ENV = "VALENCE_ROS_CACHE_DIR"
_PACKAGE = Path(__file__).resolve().parent
_CODE = ("model.py", "fast_inference.py")
_MAX_BYTES = 64 << 20     # do not hash huge directories; just load normally


def cache_dir() -> Path | None:
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "none") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "valence_ros"


def _inputs(model_path: str | None) -> list[Path] | None:
    target = _PACKAGE / "weights" if model_path is None else Path(model_path).expanduser()
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.is_file())
    elif target.is_file():
        files = [target]
        if (target.parent / "config.json").is_file():
            files.append(target.parent / "config.json")
    else:
        return None   # let the loader report the problem
    if sum(p.stat().st_size for p in files) > _MAX_BYTES:
        return None
    return files


def _key(model_path: str | None, files: list[Path]) -> str:
    digest = hashlib.sha256(b"valence_ros model cache v1\0")
    digest.update(repr(model_path).encode() + b"\0")
    for name in _CODE:
        digest.update((_PACKAGE / name).read_bytes())
    for path in files:
        data = path.read_bytes()
        digest.update(str(path.resolve()).encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def _from_entry(entry: Path):
    from valence_ros.fast_inference import FastRegressor
    with np.load(entry, allow_pickle=False) as data:
        layers = int(data["layers"])
        weights = [data[f"w{i}"] for i in range(layers)]
        biases = [data[f"b{i}"] for i in range(layers)]
        source = str(data["source"])
    return FastRegressor(weights, biases, source=source)


def _store(entry: Path, model) -> None:
    # FastRegressor keeps W.T per layer (_WT) and the biases (_b); store (out, in) weights.
    arrays = {"layers": np.array(len(model._WT)), "source": np.array(model.source)}
    for i, (wt, b) in enumerate(zip(model._WT, model._b)):
        arrays[f"w{i}"] = np.ascontiguousarray(wt.T)
        arrays[f"b{i}"] = b
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=entry.name + ".", suffix=".tmp", dir=entry.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, entry)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_fast_regressor(model_path: str | None):
    """(FastRegressor, "hit" | "miss" | "off"). Errors of the real loader propagate."""
    from valence_ros.fast_inference import FastRegressor
    directory = cache_dir()
    entry = None
    if directory is not None:
        try:
            files = _inputs(model_path)
            if files is not None:
                entry = directory / f"fast_regressor_{_key(model_path, files)}.npz"
                if entry.is_file():
                    return _from_entry(entry), "hit"
        except Exception:   # unreadable inputs or a corrupt entry: load normally (rewrites it)
            pass
    model = FastRegressor.load(model_path)
    if entry is None:
        return model, "off"
    try:
        _store(entry, model)
    except Exception:       # read-only home, full disk...: caching is optional
        return model, "off"
    return model, "miss"
