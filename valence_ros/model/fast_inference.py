"""Fast numpy inference for the valence MLP (no torch on the hot path).

:class:`FastRegressor` holds the regressor's weights as float32 numpy
arrays and evaluates the same function as :class:`~valence_ros.model.mlp.MLPRegressor`
(agreement within 1e-5; usually ~1e-7, only summation order differs).

* :meth:`FastRegressor.predict_one` - per-frame path for the ROS node:
  about 3 us per call against ~40 us for ``model(torch.tensor(x))``
  (see ``bench/bench_inference.py``). Each layer's bias is folded into its
  weight matrix (an extra input row fed by a constant 1 kept at the end of
  every preallocated activation buffer), so a layer is one ``np.dot(...,
  out=)`` plus one in-place ``np.maximum``; nothing is allocated per call
  except the returned Python float.
* :meth:`FastRegressor.predict_batch` - offline path: (N, 7) -> (N,),
  processed in chunks of 8192 rows so activations stay cache-resident.

``predict_one`` reuses internal buffers, so one instance must not be called
from two threads at once; give each thread its own :meth:`FastRegressor.copy`.

Loading never needs torch for the shipped weights: :meth:`FastRegressor.load`
with no path reads ``weights/valence_regressor.safetensors`` with numpy
(importing torch costs ~1 s and ~200 MB of RSS), and so does a user
``.safetensors`` file in that exact ``model.N.*`` layout. Other weights
files go through :func:`valence_ros.model.mlp.load_regressor` (torch; all its
formats and its tolerant key matching; without torch installed this is a
:class:`ModelLoadError`). :class:`ModelLoadError` and the
config.json reading live in :mod:`valence_ros.model.weights_file` (torch-free).
"""
from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from valence_ros.core.input_files import StrPath
from valence_ros.model.weights_file import (
    DEFAULT_CONFIG,
    ModelLoadError,
    config_beside,
    layer_shapes,
    read_config,
    check_weights_size,
    read_weights_bytes,
    weights_path_kind,
)

if TYPE_CHECKING:   # torch only for from_module (the node's path never imports it)
    import torch

__all__ = [
    "FastRegressor",
    "CHUNK_ROWS",
    "ModelLoadError",
    "read_config",
    "layer_shapes",
    "DEFAULT_CONFIG",
    "DEFAULT_SAFETENSORS_PATH",
]

CHUNK_ROWS = 8192

# The shipped weights, written by valence_train next to valence_regressor.pt
# (same tensors, same model.N.* keys).
DEFAULT_SAFETENSORS_PATH = Path(__file__).resolve().parent / "weights" / "valence_regressor.safetensors"


def _fits_strict_layout(data: bytes, cfg: dict) -> bool:
    """True if the .safetensors bytes' header lists exactly the keys and
    shapes :meth:`FastRegressor.load_safetensors` expects for ``cfg`` (any
    problem -> False, so the torch loader reports it)."""
    try:
        n = int.from_bytes(data[:8], "little")
        if not 2 <= n <= min(100_000_000, len(data) - 8):
            return False
        header = json.loads(data[8:8 + n])
        found = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
        return found == {k: tuple(s) for k, s in layer_shapes(cfg)}
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


_BLAS_POOLS = None


def _one_blas_thread() -> AbstractContextManager[Any]:
    """A context in which numpy's BLAS runs on one thread (threadpoolctl; ~20 us)."""
    global _BLAS_POOLS
    if _BLAS_POOLS is None:  # finding the loaded BLAS libraries costs ~0.5 ms: once
        from threadpoolctl import ThreadpoolController
        _BLAS_POOLS = ThreadpoolController()
    return _BLAS_POOLS.limit(limits=1, user_api="blas")


class FastRegressor:
    """Float32 numpy twin of an MLPRegressor with a single output.

    Build with :meth:`from_module` or :meth:`load`. Attributes:
    ``source`` (path of the weights, or "shipped default"),
    ``input_size``, ``hidden_sizes``.
    """

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray],
                 source: str = "in-memory module") -> None:
        if len(weights) != len(biases) or not weights:
            raise ValueError("need one bias per weight matrix and at least one layer")
        Ws = [np.asarray(w, dtype=np.float32) for w in weights]
        bs = [np.asarray(b, dtype=np.float32).reshape(-1) for b in biases]
        for i, (w, b) in enumerate(zip(Ws, bs)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"layer {i}: weight {w.shape} and bias {b.shape} do not fit")
            if i and w.shape[1] != Ws[i - 1].shape[0]:
                raise ValueError(f"layer {i}: input size {w.shape[1]} != previous output {Ws[i - 1].shape[0]}")
        if Ws[-1].shape[0] != 1:
            raise ValueError(f"FastRegressor needs a single output, got {Ws[-1].shape[0]}")
        self.source = str(source)
        self.input_size = int(Ws[0].shape[1])
        self.hidden_sizes = tuple(int(w.shape[0]) for w in Ws[:-1])
        # Batch path: transposed contiguous weights, separate biases.
        self._WT = [np.ascontiguousarray(w.T) for w in Ws]
        self._b = [b.copy() for b in bs]
        self._b_out = float(bs[-1][0])
        # Per-frame path: bias folded in as an extra input row.
        self._Wa = [np.ascontiguousarray(np.vstack([w.T, b[None, :]])) for w, b in zip(Ws, bs)]
        self._Wa[-1] = np.ascontiguousarray(self._Wa[-1][:, 0])  # 1-D: dot gives a scalar
        self._alloc_buffers()

    def _alloc_buffers(self) -> None:
        sizes = (self.input_size,) + self.hidden_sizes
        # buffer i holds layer i's input followed by a constant 1.
        self._bufs = [np.ones(n + 1, dtype=np.float32) for n in sizes]
        self._views = [b[:-1] for b in self._bufs]
        self._zero = np.float32(0.0)
        if len(self.hidden_sizes) == 2:
            # (mypy: predict_one is a method replaced per instance, on purpose)
            self.predict_one = self._make_predict_one_2()  # type: ignore[method-assign,assignment]  # hot path
        else:
            self.predict_one = self._predict_one_generic  # type: ignore[method-assign]

    def _make_predict_one_2(self) -> Callable[[np.ndarray], float]:
        # A closure over locals: no attribute look-ups on the hot path.
        b0, b1, b2 = self._bufs
        v0, v1, v2 = self._views
        W0, W1, W2 = self._Wa
        z = self._zero
        n_in = self.input_size
        dot, maximum, copyto, f32 = np.dot, np.maximum, np.copyto, np.float32

        def predict_one(x: np.ndarray) -> float:
            """Valence for one frame; ``x``: contiguous float32 array of shape (7,).

            Not clipped. Returns a Python float. Other array-likes of 7
            numbers are accepted too (converted, slightly slower).
            """
            try:
                copyto(v0, x)
            except (TypeError, ValueError):
                copyto(v0, np.asarray(x, dtype=f32).reshape(n_in))
            dot(b0, W0, out=v1)
            maximum(v1, z, out=v1)
            dot(b1, W1, out=v2)
            maximum(v2, z, out=v2)
            return dot(b2, W2).item()

        return predict_one

    # ------------------------------------------------------------------ builders

    @classmethod
    def from_module(cls, model: torch.nn.Module, source: str | None = None) -> "FastRegressor":
        """Copy the weights of an :class:`MLPRegressor` (or any module whose
        Linear layers, in order, with ReLU between them, make the network)."""
        import torch

        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ValueError("module has no Linear layers")
        ws = [m.weight.detach().cpu().numpy() for m in linears]
        bs = [
            (m.bias.detach().cpu().numpy() if m.bias is not None else np.zeros(m.out_features, np.float32))
            for m in linears
        ]
        if source is None:
            source = getattr(model, "source", "in-memory module")
        return cls(ws, bs, source=source)

    @classmethod
    def load(cls, path: StrPath | None = None, input_size: int | None = None) -> "FastRegressor":
        """``None``: the shipped default weights, read without torch (see
        :meth:`load_safetensors`). A ``.safetensors`` file whose keys and
        shapes are exactly the layout of :meth:`load_safetensors` (per the
        ``config.json`` beside it, or the defaults) is read without torch
        too. Any other path: loaded with
        :func:`valence_ros.model.mlp.load_regressor` (imports torch; same rules
        and errors). ``input_size``: the number of inputs the caller feeds
        (the node and the offline tool: the 7 canonical emotions). Raises
        :class:`ModelLoadError` naming the file."""
        model = cls._load(path)
        if input_size is not None and model.input_size != input_size:
            raise ModelLoadError(f"{model.source}: a model with {input_size} inputs is needed, "
                                 f"this one has {model.input_size}")
        return model

    @classmethod
    def _load(cls, path: StrPath | None) -> "FastRegressor":
        if path is None:
            return cls.load_safetensors(DEFAULT_SAFETENSORS_PATH, source="shipped default")
        p = Path(path).expanduser()
        # FIFOs, devices and sockets are refused here, before anything opens them.
        if weights_path_kind(p) == "file":
            check_weights_size(p)   # before torch is imported for a file that cannot load
            if p.suffix == ".safetensors":
                data = read_weights_bytes(p)
                if _fits_strict_layout(data, config_beside(p)):
                    return cls.load_safetensors(p, data=data)
        try:
            from valence_ros.model.mlp import load_regressor
        except ImportError as exc:
            if exc.name != "torch" and not (exc.name or "").startswith("torch."):
                raise
            raise ModelLoadError(
                f"{p}: loading this file needs torch (pip install torch==2.13.0), "
                f"or use a .safetensors file with model.N.* keys") from exc

        model = load_regressor(path)
        return cls.from_module(model, source=str(getattr(model, "source", path)))

    @classmethod
    def load_safetensors(cls, path: StrPath, source: str | None = None, data: bytes | None = None) -> "FastRegressor":
        """Read a ``.safetensors`` file as written by ``valence_train`` with
        numpy only (no torch import).

        Strict: the file must hold exactly the keys and shapes of the
        MLPRegressor that the ``config.json`` beside it describes (the
        defaults without one), see :func:`layer_shapes`; float dtype, finite
        values. Raises :class:`ModelLoadError` naming the file. (Foreign
        layouts: use :meth:`load` with the path, which matches by shape.)
        ``data``: the file's bytes if the caller has read them already.
        """
        path = Path(path)
        expected = layer_shapes(config_beside(path))
        if data is None:
            data = read_weights_bytes(path)
        try:
            from safetensors.numpy import load

            tensors = load(data)
        except Exception as exc:  # SafetensorError, OSError, unsupported dtype...
            raise ModelLoadError(f"{path}: not a readable safetensors file: {exc}") from exc
        found = {k: tuple(v.shape) for k, v in tensors.items()}
        if found != dict(expected):
            def fmt(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> str:
                return ", ".join(f"{k}{list(s)}" for k, s in shapes)
            raise ModelLoadError(
                f"{path}: tensors do not match the architecture in config.json: expected "
                f"[{fmt(expected)}] but the file has [{fmt(sorted(found.items()))}]")
        arrays = []
        for key, _ in expected:
            v = tensors[key]
            if not np.issubdtype(v.dtype, np.floating):
                raise ModelLoadError(f"{path}: tensor {key} has non-float dtype {v.dtype}")
            v = v.astype(np.float32)
            if not np.isfinite(v).all():
                raise ModelLoadError(f"{path}: tensor {key} holds NaN or infinite values")
            arrays.append(v)
        try:
            return cls(arrays[0::2], arrays[1::2], source=str(path) if source is None else source)
        except ValueError as exc:  # e.g. config.json with output_size != 1
            raise ModelLoadError(f"{path}: {exc}") from exc

    def copy(self) -> "FastRegressor":
        """An independent instance (own buffers) for another thread."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._alloc_buffers()
        return new

    # ------------------------------------------------------------------ per frame

    def _predict_one_generic(self, x: np.ndarray) -> float:
        bufs, views, Wa, z = self._bufs, self._views, self._Wa, self._zero
        try:
            np.copyto(views[0], x)
        except (TypeError, ValueError):
            np.copyto(views[0], np.asarray(x, dtype=np.float32).reshape(self.input_size))
        for i in range(len(Wa) - 1):
            np.dot(bufs[i], Wa[i], out=views[i + 1])
            np.maximum(views[i + 1], z, out=views[i + 1])
        return np.dot(bufs[-1], Wa[-1]).item()

    def predict_one(self, x: np.ndarray) -> float:  # replaced per instance in _alloc_buffers
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> float:
        return self.predict_one(x)

    # ------------------------------------------------------------------ batches

    def predict_batch(self, X: ArrayLike, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
        """Valence for N frames: ``X`` (N, 7) -> float32 array (N,), not clipped.

        Single-threaded numpy, ``chunk_rows`` rows at a time, with the BLAS pool
        limited to one thread for the call: OpenBLAS splits a product differently with
        two threads and the last bit of some results changes, so the same frames gave
        different bytes in a process whose BLAS pool was not set to one thread.
        """
        with _one_blas_thread():
            return self._predict_batch(X, chunk_rows)

    def _predict_batch(self, X: ArrayLike, chunk_rows: int) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 1 and X.shape[0] == self.input_size:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.input_size:
            raise ValueError(f"expected an array of shape (N, {self.input_size}), got {X.shape}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        n = X.shape[0]
        out = np.empty(n, dtype=np.float32)
        if n == 0:
            return out
        rows = max(1, min(int(chunk_rows), n))
        hidden = [np.empty((rows, h), dtype=np.float32) for h in self.hidden_sizes]
        WT, bs = self._WT, self._b
        w_last = np.ascontiguousarray(WT[-1][:, 0])
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            m = stop - start
            h = X[start:stop]
            for i, buf in enumerate(hidden):
                hb = buf[:m]
                np.dot(h, WT[i], out=hb)
                hb += bs[i]
                np.maximum(hb, self._zero, out=hb)
                h = hb
            np.dot(h, w_last, out=out[start:stop])
            out[start:stop] += self._b_out
        return out

    def __repr__(self) -> str:
        sizes = "->".join(str(s) for s in (self.input_size,) + self.hidden_sizes + (1,))
        return f"FastRegressor({sizes}, source={self.source!r})"
