"""Hostile weights files: refused with a one-line ModelLoadError, never opened when they are
not regular files, never executed (issue 11). The node's and the analyser's process-level
versions of these cases are in test/ros/test_node_hostile_files.py and
test/offline/test_analyze_hostile_inputs.py."""
import re
import threading

import pytest

from helpers.hostile_files import model_files
from valence_ros.model.fast_inference import FastRegressor
from valence_ros.model.mlp import load_regressor
from valence_ros.model.weights_file import ModelLoadError

REASONS = {  # case -> what the error must say (a regular expression)
    "code_pickle_bin": "refused", "code_pickle_pt": "refused: the pickle references code",
    "truncated_pt": "not a readable PyTorch",
    "garbage_pt": "not a readable PyTorch|refused: not a weights-only PyTorch file",
    "garbage_safetensors": "not a readable safetensors", "empty_pt": "empty file",
    "nan_pt": "NaN", "nan_safetensors": "NaN",
    "fifo_safetensors": "named pipe", "fifo_pt": "named pipe", "link_to_fifo": "named pipe",
    "dev_zero": "character device", "dev_null": "character device",
    "sparse_pt": "the limit is 256 MiB", "sparse_safetensors": "the limit is 256 MiB",
    "directory_without_weights": "holds no weights files",
    "directory_with_fifo_weights": "holds no weights files",
    "fifo_config_json": "config.json is a named pipe", "sparse_config_json": "config.json is 3072 MiB",
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    made = model_files(work)
    assert set(made) == set(REASONS)
    yield made
    assert not (work / "MARKER").exists(), "a pickle ran code"


def _refusal(load, path):
    """load(path)'s ModelLoadError, from a thread: a blocking open fails the test, not hangs it."""
    box = {}

    def run():
        try:
            load(path)
            box["error"] = None
        except Exception as error:   # inspected below
            box["error"] = error
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), f"{path}: load blocked"
    return box["error"]


@pytest.mark.parametrize("case", sorted(REASONS))
@pytest.mark.parametrize("loader", ["FastRegressor.load", "load_regressor"])
def test_hostile_weights_refused_with_a_reason(cases, case, loader):
    load = FastRegressor.load if loader == "FastRegressor.load" else load_regressor
    error = _refusal(load, cases[case])
    assert isinstance(error, ModelLoadError), (case, error)
    message = str(error)
    assert re.search(REASONS[case], message) and "\n" not in message, (case, message)
