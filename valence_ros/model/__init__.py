"""The valence model: the seed model card's MLP and everything around it.

    mlp             MLPRegressor (the card's architecture) and the safe weights loader (torch)
    weights_file    ModelLoadError and the config.json beside a weights file (no torch)
    fast_inference  FastRegressor: numpy twin of the MLP for the node and the offline tool
    valence_rule    the labels the model learns (FaceReader valence, weighted rule)
    synthetic_data  seeded FER-like training data
    metrics         MAE, RMSE, R², CCC
    train           valence_train

The model card's usage works as written:
``from valence_ros.model import MLPRegressor, load_regressor``. torch is imported
only when one of the torch symbols is first used, so the node and the offline tool
(FastRegressor with the shipped weights) run without it.
"""
from typing import Any

from valence_ros.model.fast_inference import FastRegressor
from valence_ros.model.weights_file import ModelLoadError

__all__ = ["FastRegressor", "ModelLoadError", "MLPRegressor", "load_regressor", "save_regressor"]

_TORCH_SYMBOLS = ("MLPRegressor", "load_regressor", "save_regressor")


def __getattr__(name: str) -> Any:
    if name in _TORCH_SYMBOLS:
        from valence_ros.model import mlp
        return getattr(mlp, name)
    raise AttributeError(f"module 'valence_ros.model' has no attribute {name!r}")
