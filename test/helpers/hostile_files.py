"""Hostile files for the model_path and valence_analyze input tests (issue 11).

Each factory makes one file (or FIFO, directory, link, sparse file) in a
directory and returns its path. Used by test/model, test/offline and test/ros,
so the node and the analyser are attacked with the same files.
"""
from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

GIB = 1024 ** 3


def make_sparse(path: Path, size: int = 3 * GIB) -> Path:
    """A file of `size` bytes that takes no disk blocks (reads as zeros)."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


class _RunsCode:
    """Unpickling this runs `touch <marker>`: a marker file proves code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def code_pickle_raw(path: Path, marker: Path) -> Path:
    """A plain protocol-4 pickle (the `.bin` of a hostile model hub)."""
    path.write_bytes(pickle.dumps({"model.0.weight": _RunsCode(marker)}, protocol=4))
    return path


def code_pickle_torch(path: Path, marker: Path) -> Path:
    """A torch.save zip whose pickle calls os.system."""
    import torch
    torch.save({"model.0.weight": _RunsCode(marker)}, str(path))
    return path


def good_torch_weights(path: Path, nan: bool = False) -> Path:
    import torch
    from valence_ros.model.mlp import MLPRegressor, save_regressor
    torch.manual_seed(0)
    model = MLPRegressor()
    if nan:
        with torch.no_grad():
            model.model[0].weight[0, 0] = float("nan")
    return save_regressor(model, path, write_config=False)


def nan_safetensors(path: Path) -> Path:
    """The shipped layout (model.N.* keys, float32), one weight NaN: the numpy loader's path."""
    import numpy as np
    from safetensors.numpy import save_file
    from valence_ros.model.weights_file import DEFAULT_CONFIG, layer_shapes
    tensors = {k: np.zeros(shape, dtype=np.float32) for k, shape in layer_shapes(DEFAULT_CONFIG)}
    tensors["model.0.weight"][0, 0] = np.nan
    save_file(tensors, str(path))
    return path


def model_files(work: Path) -> dict[str, Path]:
    """case -> model_path; every one must be refused with a one-line model_path error.
    (The caller checks that work/'MARKER' never appears.)"""
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "MARKER"
    good = good_torch_weights(work / "good" / "w.pt")
    cases: dict[str, Path] = {
        "code_pickle_bin": code_pickle_raw(work / "evil.bin", marker),
        "code_pickle_pt": code_pickle_torch(work / "evil.pt", marker),
        "truncated_pt": work / "truncated.pt",
        "garbage_pt": work / "garbage.pt",
        "garbage_safetensors": work / "garbage.safetensors",
        "empty_pt": work / "empty.pt",
        "nan_pt": good_torch_weights(work / "nan" / "nan.pt", nan=True),
        "nan_safetensors": nan_safetensors(work / "nan.safetensors"),
        "fifo_safetensors": make_fifo(work / "pipe.safetensors"),
        "fifo_pt": make_fifo(work / "pipe.pt"),
        "link_to_fifo": work / "link.safetensors",
        "dev_zero": Path("/dev/zero"),
        "dev_null": Path("/dev/null"),
        "sparse_pt": make_sparse(work / "huge.pt"),
        "sparse_safetensors": make_sparse(work / "huge.safetensors"),
        "directory_without_weights": work / "emptydir",
        "directory_with_fifo_weights": work / "fifodir",
        "fifo_config_json": work / "fifocfg" / "w.safetensors",
        "sparse_config_json": work / "bigcfg" / "w.safetensors",
    }
    data = good.read_bytes()
    cases["truncated_pt"].write_bytes(data[: len(data) // 2])
    cases["garbage_pt"].write_bytes(random.Random(0).randbytes(4096))
    cases["garbage_safetensors"].write_bytes(b"\x40\x00\x00\x00\x00\x00\x00\x00{not json" + b"\0" * 80)
    cases["empty_pt"].write_bytes(b"")
    os.symlink(cases["fifo_safetensors"], cases["link_to_fifo"])
    cases["directory_without_weights"].mkdir()
    cases["directory_with_fifo_weights"].mkdir()
    make_fifo(cases["directory_with_fifo_weights"] / "pytorch_model.bin")
    from valence_ros.model.fast_inference import DEFAULT_SAFETENSORS_PATH
    for case, config in (("fifo_config_json", make_fifo), ("sparse_config_json", make_sparse)):
        cases[case].parent.mkdir()
        cases[case].write_bytes(DEFAULT_SAFETENSORS_PATH.read_bytes())
        config(cases[case].parent / "config.json")
    return cases
