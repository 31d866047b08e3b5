"""The installed valence_node given hostile files (issue 11, defects 3 and 6): every model_path
of test/helpers/hostile_files.py (FIFOs, devices, sparse multi-GB files, code-carrying pickles,
truncated/garbage/NaN weights, directories, a FIFO config.json) and hostile --params-file
paths: exit code 2 with one line naming the problem, no hang, no code run. A FIFO used to
block the node in open() forever, deaf to SIGINT and SIGTERM."""
from __future__ import annotations

import os
import subprocess

import pytest

from helpers.hostile_files import make_fifo, make_sparse, model_files

pytestmark = pytest.mark.ros
EXIT_TIMEOUT = 90   # s: startup imports torch for .pt files; a blocked open fails here


def _exits_2_with_one_line(process, words: str) -> str | None:
    try:
        code = process.wait_exit(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{process.args}: still running after {EXIT_TIMEOUT} s"
    lines = process.stderr().strip().splitlines()
    if code != 2 or len(lines) != 1 or words not in lines[0] or "Traceback" in process.output():
        return f"{process.args}: exit {code}, stderr {process.stderr()!r}"
    return None


def _run_pairs(starts):
    """Start the nodes two at a time (2 cores) and collect the problems."""
    problems = []
    for i in range(0, len(starts), 2):
        running = [(start(), words) for start, words in starts[i:i + 2]]
        problems += [p for p in (_exits_2_with_one_line(proc, words) for proc, words in running) if p]
    return problems


# Each case that reaches torch imports it in the node (seconds on a loaded machine): CI runs
# the two code-carrying pickles of them, make soak (VALENCE_SOAK=1) all; every case is also
# run in-process against both loaders by test/model/test_hostile_weights.py.
TORCH_CASES = {"truncated_pt", "garbage_pt", "empty_pt", "nan_pt", "garbage_safetensors",
               "directory_without_weights", "directory_with_fifo_weights"}


def test_hostile_model_path_exit_2_one_line(tmp_path, node_process):
    cases = model_files(tmp_path)
    if os.environ.get("VALENCE_SOAK") != "1":
        cases = {k: v for k, v in cases.items() if k not in TORCH_CASES}
    starts = [(lambda path=path: node_process({"model_path": str(path)}, params_file=None),
               "parameter 'model_path'") for _, path in sorted(cases.items())]
    problems = _run_pairs(starts)
    assert not problems, "\n".join(problems)
    assert not (tmp_path / "MARKER").exists(), "a pickle ran code"


def test_hostile_params_file_exit_2_one_line(tmp_path, node_process):
    link = tmp_path / "link.yaml"
    os.symlink(make_fifo(tmp_path / "pipe.yaml"), link)
    cases = {"fifo": tmp_path / "pipe.yaml", "link_to_fifo": link, "dev_zero": "/dev/zero",
             "directory": tmp_path, "sparse": make_sparse(tmp_path / "huge.yaml")}
    starts = [(lambda path=path: node_process(params_file=path), "valence_node: cannot start: --params-file")
              for _, path in sorted(cases.items())]
    problems = _run_pairs(starts)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("text", ["/**:\n  ros__parameters: 5\n", "/**: [1, 2]\n",
                                  "/**:\n  ros__parameters:\n    hysteresis:\n"])
def test_non_mapping_params_file_is_refused_by_the_node_and_the_analyser(tmp_path, node_process, text):
    """Defect 6 end to end: rcl refuses these, the node exits 2; the analyser refuses the
    same file (its differential test against rcl is test/core/test_params_file.py)."""
    from valence_ros.core.parameters import ParameterError, load_params_file
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    process = node_process(params_file=path)
    assert process.wait_exit(EXIT_TIMEOUT) == 2
    assert "valence_node: cannot start" in process.stderr() and "Traceback" not in process.output()
    with pytest.raises(ParameterError, match="params_file"):
        load_params_file(path)
