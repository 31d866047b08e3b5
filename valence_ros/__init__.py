"""valence_ros: live, trustworthy valence from facial-expression probabilities.

Subpackages, one job each (lower layers never import higher ones; an
import-linter contract in setup.cfg enforces it):

    core      the pure per-frame pipeline: labels, validation, smoothing, state, faces,
              parameters (no ROS, no torch)
    model     the valence MLP, its numpy fast path, training data, metrics, training
    cdr       vectorised CDR codec for this package's messages (numpy only)
    ros       the ROS 2 node: topics, parameters, diagnostics, executor
    offline   valence_analyze: bags and CSV exports in, tables, bags and plots out
    demo      make run's scripted session
    process   how every executable starts, stops and fails (standard library only)

The package root imports nothing (its symbols are loaded on first use): an
executable's wrapper imports valence_ros.process before anything slow, so that
signals are handled from its first line on.
"""

__all__ = ["EMOTIONS", "NUM_EMOTIONS", "MLPRegressor", "load_regressor"]


def __getattr__(name):
    if name in ("EMOTIONS", "NUM_EMOTIONS"):
        from valence_ros.core import emotions
        return getattr(emotions, name)
    if name in ("MLPRegressor", "load_regressor"):
        from valence_ros.model import mlp
        return getattr(mlp, name)
    raise AttributeError(f"module 'valence_ros' has no attribute {name!r}")
