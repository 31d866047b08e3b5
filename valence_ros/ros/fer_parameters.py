"""valence_fer_node's parameters: one table (names, defaults, ranges, meaning), declared as
ROS parameters the way valence_node's are (ros/node_parameters.py).

The table itself is pure (valence_ros.fer.parameters). Every parameter is read-only: the detector, tracker, model and input subscriptions are
built once at startup. A bad value at startup is one StartupError line naming the
parameter and its allowed range (exit code 2). config/valence.yaml's
`/**/valence_fer_node` section lists the same names with the same defaults
(test/package/test_config.py keeps them equal).
"""
from __future__ import annotations

from typing import Any

from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

from valence_ros.core.parameters import ParameterError
from valence_ros.fer.parameters import (
    FER_DEFAULTS,
    FER_PARAMETERS,
    FER_SPECS,
    check_fer_parameter,
    validate_fer_parameters,
)
from valence_ros.ros.node_parameters import (
    StartupError,
    declared_value,
    given_value,
    is_int_for_float,
    parameter_descriptor,
)
from valence_ros.ros.rclpy_private import parameter_overrides

__all__ = ["FER_DEFAULTS", "FER_PARAMETERS", "FER_SPECS", "declare_fer_parameters",
           "validate_fer_parameters"]


def declare_fer_parameters(node) -> dict[str, Any]:
    """Declare the table on `node` (read-only); the validated values. Raises StartupError."""
    for spec in FER_PARAMETERS:
        descriptor = parameter_descriptor(spec)
        try:
            node.declare_parameter(spec.name, spec.default, descriptor)
        except (InvalidParameterTypeException, InvalidParameterValueException):
            given = given_value(node, spec.name)
            if spec.name == "video_source" and isinstance(given, int) and not isinstance(given, bool):
                # `-p video_source:=0` reaches rcl as an integer: the camera index "0"
                node.declare_parameter(spec.name, str(given), descriptor, ignore_override=True)
                continue
            try:
                check_fer_parameter(spec.name, given)
            except ParameterError as error:
                raise StartupError(str(error)) from None
            if not is_int_for_float(spec, given):
                raise StartupError(str(ParameterError(
                    spec.name, given,
                    f"{spec.allowed()}, of type {type(spec.default).__name__}"))) from None
            # `detection_scale: 1` is taken as 1.0
            node.declare_parameter(spec.name, float(given), descriptor, ignore_override=True)
    values = {spec.name: declared_value(node, spec.name) for spec in FER_PARAMETERS}
    if values["model_labels"] is None:  # `model_labels: []` reaches rclpy as NOT_SET
        values["model_labels"] = []
    values["model_labels"] = list(values["model_labels"])
    values["model_input_range"] = list(values["model_input_range"] or [])
    try:
        values = validate_fer_parameters(values)
    except ParameterError as error:
        raise StartupError(str(error)) from None
    overrides = parameter_overrides(node)
    unknown = sorted(name for name in set(overrides) - set(FER_SPECS) - {"use_sim_time"}
                     if not name.startswith("qos_overrides."))
    if unknown:
        node.get_logger().warning(
            f"ignoring unknown parameter(s) {', '.join(unknown)}; known: {', '.join(FER_SPECS)}")
    return values
