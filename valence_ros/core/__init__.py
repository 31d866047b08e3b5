"""The pure per-frame pipeline, shared by the live node and the offline tool.

Plain Python and numpy only: no rclpy, no torch (an import-linter contract in
setup.cfg enforces it).

    emotions       the canonical emotion names and order
    labels         label names, aliases and presets -> precomputed index maps
    preprocessing  validate a frame (reject reasons), map it to canonical order
    smoothing      stamp-driven exponential smoothing
    valence_state  NEGATIVE / NEUTRAL / POSITIVE with hysteresis (UNKNOWN: face gone)
    face_tracker   per-face filter and state, expiry, the max_faces bound, gone faces
    parameters     the one parameter table (defaults, ranges, docs) and its checks
    params_file    read a ROS 2 params YAML for one node exactly as rcl does
    hri_expression ROS4HRI Expression: dominant emotion, per-face topic names
    output_contract what valence_node sends (checked by behaviour-tree subscribers)
    throttle       one warning per period per key, counting what was held back (used by
                   the ROS layer and the behaviours, which may not import each other)
"""
from valence_ros.core.emotions import EMOTIONS, NUM_EMOTIONS
from valence_ros.core.face_tracker import FaceTracker, GoneFace, TrackedFrame, TrackerConfig
from valence_ros.core.labels import LabelError, LabelMap, LabelMapCache, resolve_labels
from valence_ros.core.parameters import PARAMETERS, ParameterError, load_params_file, validate_parameters
from valence_ros.core.preprocessing import REJECT_REASONS, to_canonical, to_canonical_batch
from valence_ros.core.smoothing import ExponentialSmoother
from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE, STATE_NAMES, UNKNOWN, StateThresholds

__all__ = [
    "EMOTIONS", "NUM_EMOTIONS", "FaceTracker", "GoneFace", "TrackedFrame", "TrackerConfig", "LabelError",
    "LabelMap", "LabelMapCache", "resolve_labels", "PARAMETERS", "ParameterError",
    "load_params_file", "validate_parameters", "REJECT_REASONS", "to_canonical",
    "to_canonical_batch", "ExponentialSmoother", "NEGATIVE", "NEUTRAL", "POSITIVE",
    "STATE_NAMES", "UNKNOWN", "StateThresholds",
]
