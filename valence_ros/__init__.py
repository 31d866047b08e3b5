"""valence_ros: live, trustworthy valence from facial-expression probabilities.

The package root stays light (no torch import) so tools that only need the
label logic start fast; model symbols are loaded on first use.
"""
from valence_ros.emotions import EMOTIONS, NUM_EMOTIONS

__all__ = ["EMOTIONS", "NUM_EMOTIONS", "MLPRegressor", "load_regressor"]


def __getattr__(name):
    if name in ("MLPRegressor", "load_regressor"):
        from valence_ros import model
        return getattr(model, name)
    raise AttributeError(f"module 'valence_ros' has no attribute {name!r}")
