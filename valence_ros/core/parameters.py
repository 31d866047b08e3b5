"""The node's parameters: one table of names, defaults, ranges and meaning.

The node declares its ROS parameters from PARAMETERS (with descriptors and
ranges); the offline analyser reads the same YAML file through
load_params_file() and validate_parameters(), so both run with identical
settings and reject the same bad values with the same message.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable

from valence_ros.core.face_tracker import TrackerConfig
from valence_ros.core.hri_expression import DEFAULT_TOPIC_PATTERN, pattern_problem
from valence_ros.core.labels import LabelError, resolve_labels
from valence_ros.core.params_file import STRICTEST_RULES, ParamsFileError, RclRules, read_node_parameters
from valence_ros.core.valence_state import StateThresholds

INPUT_TYPES = ("emotion_probabilities", "float32_multi_array")
RELIABILITIES = ("best_effort", "reliable")
DECODINGS = ("cdr", "rclpy")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    dynamic: bool = False   # may be changed while the node runs

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.minimum is not None:
            return f"[{self.minimum}, {self.maximum}]"
        if isinstance(self.default, bool):
            return "true or false"
        return "any " + type(self.default).__name__


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "",
              "Weights file (.pt/.pth/.bin/.safetensors); empty = the shipped default model."),
    ParamSpec("input_type", "emotion_probabilities",
              "Input message type: valence_ros/EmotionProbabilities, or std_msgs/Float32MultiArray "
              "(stamp = receive time on the node clock, face_id empty).",
              choices=INPUT_TYPES),
    ParamSpec("input_decoding", "cdr",
              "Who decodes EmotionProbabilities input: cdr = the node, from the serialised message "
              "(raw subscription, pre-serialised Valence out: less CPU per frame; malformed messages "
              "are counted as rejected_undecodable), rclpy = rclpy's typed messages. Same results "
              "either way.",
              choices=DECODINGS),
    ParamSpec("input_labels", ["facereader"],
              "Label order of inputs whose message carries no labels: a list of names (any case, "
              "aliases accepted) or one preset name: facereader (= the canonical order), fer2013, "
              "ferplus, hsemotion, hsemotion7."),
    ParamSpec("input_qos_reliability", "best_effort",
              "Input subscription reliability. best_effort connects to both reliable and "
              "best-effort (sensor data) publishers.",
              choices=RELIABILITIES),
    ParamSpec("input_qos_depth", 10, "Input subscription queue depth.", 1, 1000),
    ParamSpec("smoothing_time_constant", 0.5,
              "Exponential smoothing time constant in seconds of header-stamp time; 0 = off.",
              0.0, 60.0, dynamic=True),
    ParamSpec("positive_threshold", 0.3,
              "Smoothed valence at or above which a face becomes POSITIVE.", -1.0, 1.0, dynamic=True),
    ParamSpec("negative_threshold", -0.3,
              "Smoothed valence at or below which a face becomes NEGATIVE (must be below "
              "positive_threshold).", -1.0, 1.0, dynamic=True),
    ParamSpec("hysteresis", 0.1,
              "How far valence must fall back past a threshold before a state is left "
              "(must be below positive_threshold - negative_threshold).",
              0.0, 2.0, dynamic=True),
    ParamSpec("state_min_duration", 0.0,
              "Seconds of header-stamp time the hysteresis must ask for a new state on every frame befo"
              "re the state changes (debouncing); 0 = at once. A face's first state is immediate.",
              0.0, 60.0, dynamic=True),
    ParamSpec("face_timeout", 2.0,
              "Seconds (node clock; sim time when use_sim_time) without frames after which a "
              "face is forgotten and its filter restarts.", 0.01, 3600.0, dynamic=True),
    ParamSpec("max_faces", 16,
              "Most faces tracked at once; the least recently seen is dropped beyond it.", 1, 1024),
    ParamSpec("sum_tolerance", 0.05,
              "Frames whose probabilities sum further than this from 1 are rejected; closer "
              "ones are renormalised. Raise it for sources publishing unnormalised intensities.",
              0.0, 1000.0, dynamic=True),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", 0.1, 60.0),
    ParamSpec("warning_throttle_period", 5.0,
              "Minimum seconds between two warnings of the same kind (counts are kept always).",
              0.0, 3600.0),
    # ROS4HRI (REP-155); setting either of these needs the hri_msgs package.
    ParamSpec("hri_expression", False,
              "Also publish hri_msgs/Expression per face on hri_expression_topic (ROS4HRI)."),
    ParamSpec("hri_expression_topic", DEFAULT_TOPIC_PATTERN,
              "Per-face Expression topic; {face_id} is replaced by the face_id, or by its "
              "sanitised name (SHA-1 suffix) when it is not a valid topic token of at most 64 "
              "characters or looks like a sanitised name."),
    ParamSpec("hri_tracked_faces_topic", "",
              "hri_msgs/IdsList of tracked faces (ROS4HRI: /humans/faces/tracked); a face that "
              "leaves the list is forgotten at once. Empty = off."),
)

SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}
DEFAULTS: dict[str, Any] = {spec.name: spec.default for spec in PARAMETERS}


class ParameterError(ValueError):
    """A parameter value outside its allowed range; the message names both."""

    def __init__(self, name: str, value: Any, allowed: str):
        self.name = name
        super().__init__(f"parameter '{name}' = {value!r} is invalid; allowed: {allowed}")


def check_parameter(name: str, value: Any, specs: dict[str, ParamSpec] | None = None) -> None:
    """Raise ParameterError unless `value` is allowed for parameter `name` alone.
    `specs`: another node's table of the same kind (valence_fer_node's); default SPECS."""
    spec = (SPECS if specs is None else specs)[name]
    if isinstance(spec.default, bool):
        if not isinstance(value, bool):
            raise ParameterError(name, value, spec.allowed())
    elif spec.choices is not None or isinstance(spec.default, str):
        if not isinstance(value, str):
            raise ParameterError(name, value, spec.allowed())
    if spec.choices is not None and value not in spec.choices:
        raise ParameterError(name, value, spec.allowed())
    if spec.minimum is not None:
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(spec.default, int):
            numeric = isinstance(value, int) and not isinstance(value, bool)  # as rcl: 16.0 is a double
        if not numeric or (isinstance(value, float) and not math.isfinite(value)) \
                or not spec.minimum <= value <= spec.maximum:
            raise ParameterError(name, value, spec.allowed())
    problem = pattern_problem(value) if name == "hri_expression_topic" else None
    if problem:
        raise ParameterError(name, value, problem)
    if name == "hri_tracked_faces_topic" and value and pattern_problem(value + "/{face_id}"):
        raise ParameterError(name, value, "empty (off) or a valid ROS topic name")
    if name == "input_labels":
        labels = [label for label in value if label != ""] if isinstance(value, (list, tuple)) else None
        if labels is None:
            raise ParameterError(name, value, "a list of strings")
        try:
            resolve_labels(labels, allow_preset=True)
        except LabelError as error:
            raise ParameterError(name, value, f"known emotion labels ({error})") from None


def validate_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """Full parameter set (defaults filled in), each value and the cross-checks validated."""
    unknown = sorted(set(values) - set(SPECS) - {"use_sim_time"})
    if unknown:
        raise ParameterError(unknown[0], values[unknown[0]], "a known parameter name: " + ", ".join(SPECS))
    merged = {**DEFAULTS, **{k: v for k, v in values.items() if k in SPECS}}
    for name, value in merged.items():
        check_parameter(name, value)
    given = {name for name, value in values.items() if name in SPECS and value != DEFAULTS[name]}
    check_thresholds(merged["positive_threshold"], merged["negative_threshold"], merged["hysteresis"],
                     changed=given)
    return merged


def check_thresholds(positive: float, negative: float, hysteresis: float,
                     changed: Collection[str] = ()) -> None:
    """Cross-checks: thresholds ordered, and hysteresis narrower than the neutral band,
    so that valence beyond the opposite threshold always leaves a state.

    `changed`: the names the user set (a runtime request, or values that differ from
    the defaults). The error names one of them, with the bound the others impose, so
    `ros2 param set ... positive_threshold -0.5` is refused naming positive_threshold,
    not the negative_threshold the user did not touch. Without `changed` (or when it
    does not decide), negative_threshold resp. hysteresis is named, as before."""
    changed = set(changed)
    if not negative < positive:
        if "positive_threshold" in changed and "negative_threshold" not in changed:
            raise ParameterError("positive_threshold", positive,
                                 f"{SPECS['positive_threshold'].allowed()} and above "
                                 f"negative_threshold ({negative})")
        raise ParameterError("negative_threshold", negative,
                             f"{SPECS['negative_threshold'].allowed()} and below "
                             f"positive_threshold ({positive})")
    if not hysteresis < positive - negative:
        if "hysteresis" in changed or not changed & {"positive_threshold", "negative_threshold"}:
            raise ParameterError("hysteresis", hysteresis,
                                 f"{SPECS['hysteresis'].allowed()} and below positive_threshold - "
                                 f"negative_threshold ({positive - negative:g})")
        # A threshold moved and narrowed the neutral band below the hysteresis.
        if "positive_threshold" in changed:
            raise ParameterError("positive_threshold", positive,
                                 f"{SPECS['positive_threshold'].allowed()} and above negative_threshold "
                                 f"+ hysteresis ({negative + hysteresis:g}): the band between the "
                                 f"thresholds must be wider than the hysteresis ({hysteresis:g})")
        raise ParameterError("negative_threshold", negative,
                             f"{SPECS['negative_threshold'].allowed()} and below positive_threshold "
                             f"- hysteresis ({positive - hysteresis:g}): the band between the "
                             f"thresholds must be wider than the hysteresis ({hysteresis:g})")


def input_labels_of(values: dict[str, Any]) -> list[str]:
    """The input_labels parameter; empty strings are ignored ([] or [""] = canonical order)."""
    return [label for label in values["input_labels"] if label != ""]


def tracker_config(values: dict[str, Any]) -> TrackerConfig:
    return TrackerConfig(
        smoothing_time_constant=float(values["smoothing_time_constant"]),
        thresholds=StateThresholds(
            positive_threshold=float(values["positive_threshold"]),
            negative_threshold=float(values["negative_threshold"]),
            hysteresis=float(values["hysteresis"]),
        ),
        face_timeout=float(values["face_timeout"]),
        max_faces=int(values["max_faces"]),
        state_min_duration=float(values["state_min_duration"]),
    )


def unknown_parameter_names(names: Iterable[str]) -> list[str]:
    """Names the node does not declare and warns about; qos_overrides.* belong to
    rclpy (QoS overrides) and are silent, in the node and offline alike."""
    return sorted(name for name in set(names) - set(SPECS) - {"use_sim_time"}
                  if not name.startswith("qos_overrides."))


def load_params_file(path: str | Path, node_fqn: str = "/valence_node",
                     unknown: list[str] | None = None, rules: RclRules = STRICTEST_RULES) -> dict[str, Any]:
    """Validated parameters from a ROS 2 params YAML, read as rcl reads it for the
    node `node_fqn` (see params_file). Names the node does not declare are
    ignored, as the node ignores them; those it would warn about are appended
    to `unknown` when given. `rules`: the ROS 2 distro's rcl rules (params_file)."""
    try:
        values = read_node_parameters(path, node_fqn, rules)
    except ParamsFileError as error:
        raise ParameterError("params_file", str(path), f"a readable ROS 2 params YAML ({error})") from None
    if values.get("input_labels", []) is None:   # `input_labels: []`: NOT_SET in rcl, as in the node
        values["input_labels"] = []
    if unknown is not None:
        unknown.extend(unknown_parameter_names(values))
    return validate_parameters({k: v for k, v in values.items() if k in SPECS or k == "use_sim_time"})
