"""`pip install .` without ROS and without torch (issue 19), in fresh venvs made by pip:

* Python 3.11 with the project's pins (requirements.txt as pip constraints, so numpy is
  the same): valence_analyze on a generated bag, a FaceReader export and a small study
  writes the same CSV bytes as this (ROS) venv, torch is not installed at all, and
  valence_train says it needs the [torch] extra;
* Python 3.10 and 3.12 (pyenv or PATH; skipped with the reason where one is missing),
  without constraints (what such a robot's Python gets): the pure tests pass there.

Each venv takes a minute or more and PyPI (pip's cache makes re-runs quicker), so these
run in `make test-pip` (part of .ci/run) and are skipped by `make test`.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_analyze_cli import ep_topic, session, write_bag, write_facereader
from test_study import make_study

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.environ.get("VALENCE_PIP_INSTALL_TESTS") != "1",
                                reason="builds venvs with pip (minutes): `make test-pip`, run by .ci/run")

# The ROS-free tests: core, cdr, model inference with the shipped weights, offline.
# Files that need rclpy or torch at import are not listed; single tests that need
# them skip themselves (pytest.importorskip) in a venv without them.
PURE_TESTS = [
    "test/core/test_face_tracker.py", "test/core/test_hri_expression.py",
    "test/core/test_input_files.py", "test/core/test_labels.py", "test/core/test_parameters.py",
    "test/core/test_preprocessing.py", "test/core/test_smoothing.py", "test/core/test_state_debounce.py",
    "test/core/test_throttle.py", "test/core/test_valence_state.py", "test/cdr/test_frame_codec.py",
    "test/model/test_fuzz_frame_path.py", "test/model/test_metrics.py", "test/model/test_valence_rule.py",
    "test/offline/test_analyze_cli.py", "test/offline/test_analyze_hostile_inputs.py",
    "test/offline/test_bag_io.py", "test/offline/test_episodes.py", "test/offline/test_facereader_csv.py",
    "test/offline/test_fuzz_batch_path.py", "test/offline/test_offline_pipeline.py",
    "test/offline/test_ros_distro.py", "test/offline/test_study.py", "test/offline/test_termination.py",
]
# What the pure tests need beyond the package (the package's [test] extra + the study tests' readers).
TEST_TOOLS = ["pytest", "pytest-timeout", "hypothesis", "pandas", "psutil"]
# Environment of a plain venv's processes: nothing of the ROS venv or its install space.
_ROS_VARIABLES = ("PYTHONPATH", "AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV",
                  "COLCON_PREFIX_PATH", "ROS_DISTRO", "PYTHONHOME")


def plain_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in _ROS_VARIABLES}


def interpreter(version: str) -> str | None:
    """pythonX.Y on PATH, else a pyenv build of it."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(str(root / "versions" / f"{version}.*" / "bin" / f"python{version}")))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", f"import sys; assert sys.version.startswith('{version}.')"],
                                        capture_output=True, timeout=60).returncode == 0:
            return candidate
    return None


def make_venv(python: str, where: Path, *pip_args: str) -> Path:
    """A fresh venv at `where` with `pip install <pip_args>`; returns its bin/."""
    subprocess.run([python, "-m", "venv", str(where)], check=True, timeout=300, env=plain_env())
    proc = subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--no-input", *pip_args], capture_output=True, text=True, timeout=1800,
                          env=plain_env(), cwd=where)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return where / "bin"


def _csv_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))}


def test_plain_311_venv_analyses_like_the_ros_venv(tmp_path):
    python = interpreter("3.11")
    if python is None:
        pytest.skip("no Python 3.11 on PATH or in pyenv")
    bin_ = make_venv(python, tmp_path / "venv", "--constraint", str(REPO / "requirements.txt"), str(REPO))
    probe = subprocess.run([str(bin_ / "python"), "-c",
                            "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('rclpy'))"],
                           capture_output=True, text=True, timeout=60, env=plain_env(), cwd=tmp_path)
    assert probe.stdout.split() == ["None", "None"], probe.stdout + probe.stderr    # no torch, no ROS
    assert not (REPO / "build" / "lib").exists() and not (REPO / "build" / "bdist.linux-x86_64").exists()

    data = tmp_path / "data"
    inputs = {
        "bag": write_bag(tmp_path / "one_bag", "mcap", {"/emotion_probabilities": ep_topic(session(200))}),
        "export": write_facereader(tmp_path / "p09.txt", [(i * 40_000_000, [0.1, 0.05, 0.05, 0.2, 0.1, 0.1, 0.4])
                                                          for i in range(100)]),
        "study": data,
    }
    make_study(data)
    for name, source in inputs.items():
        outs = {}
        for venv, command in (("plain", [str(bin_ / "valence_analyze")]),
                              ("ros", [sys.executable, "-P", "-m", "valence_ros.offline.analyze"])):
            out = tmp_path / f"{name}_{venv}"
            env = plain_env() if venv == "plain" else dict(os.environ)
            proc = subprocess.run([*command, str(source), "--out", str(out), "-q", "--jobs", "2"],
                                  capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
            assert proc.returncode in (0, 3), (name, venv, proc.stderr)     # 3: the study's broken p04
            outs[venv] = _csv_files(out)
        assert outs["plain"] and outs["plain"].keys() == outs["ros"].keys(), name
        different = [f for f in outs["plain"] if outs["plain"][f] != outs["ros"][f]]
        assert not different, (name, different)
    summary = (tmp_path / "bag_plain" / "summary.json").read_text()
    assert '"torch_imported": false' in summary

    train = subprocess.run([str(bin_ / "valence_train"), "--out", str(tmp_path / "t")], capture_output=True,
                           text=True, timeout=120, env=plain_env(), cwd=tmp_path)
    assert train.returncode == 2 and "valence_ros[torch]" in train.stderr, train.stderr


@pytest.mark.parametrize("version", ["3.10", "3.12"])
def test_pure_tests_pass_on_python(tmp_path, version):
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on PATH or in pyenv")
    bin_ = make_venv(python, tmp_path / "venv", str(REPO), *TEST_TOOLS)
    # Started outside the repository, so the venv's installed valence_ros is what the
    # tests import (Python 3.10 has no -P to keep the working directory off sys.path).
    proc = subprocess.run([str(bin_ / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not ros",
                           "--timeout", "600", "--rootdir", str(REPO), *(str(REPO / t) for t in PURE_TESTS)],
                          capture_output=True, text=True, timeout=3600, env=plain_env(), cwd=tmp_path)
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout.splitlines()[-1], tail
    print(f"Python {version}: {proc.stdout.splitlines()[-1]}")
