"""The parameter table (valence_ros.core.parameters) as ROS parameters.

Declares every entry with a descriptor (range, read-only, description), turns a
bad startup value into one StartupError line naming the parameter and its allowed
range, and checks runtime set requests against the same table.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterUninitializedException,
)
from rclpy.parameter import Parameter

from valence_ros.ros.rclpy_private import parameter_overrides

from valence_ros.core.parameters import (
    PARAMETERS,
    SPECS,
    ParameterError,
    check_parameter,
    check_thresholds,
    unknown_parameter_names,
    validate_parameters,
)


class StartupError(Exception):
    """Bad configuration at startup; str() is the one line printed to stderr."""


def parameter_descriptor(spec, managed: bool = False) -> ParameterDescriptor:
    """ROS descriptor for one PARAMETERS entry (range, read-only, description).
    `managed` (lifecycle node): no parameter is read-only for rclpy, since the
    static ones may change while unconfigured; the node refuses them once configured."""
    descriptor = ParameterDescriptor(
        name=spec.name, description=spec.description,
        read_only=not (spec.dynamic or managed))
    if spec.choices is not None:
        descriptor.additional_constraints = "one of: " + ", ".join(spec.choices)
    elif spec.minimum is not None:
        if isinstance(spec.default, int) and not isinstance(spec.default, bool):
            descriptor.integer_range = [IntegerRange(
                from_value=int(spec.minimum), to_value=int(spec.maximum), step=0)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(spec.minimum), to_value=float(spec.maximum), step=0.0)]
    elif spec.name == "input_labels":
        descriptor.additional_constraints = (
            "label names (any case, aliases accepted) or one preset: "
            "facereader, fer2013, ferplus, hsemotion, hsemotion7")
    return descriptor


def is_int_for_float(spec, value) -> bool:
    return (isinstance(spec.default, float) and isinstance(value, int)
            and not isinstance(value, bool))


def declare_parameters(node, managed: bool = False) -> dict[str, Any]:
    """Declare the whole table on `node`; the validated values. Raises StartupError.

    `managed` (lifecycle configure, which may run again after a failure or a
    cleanup): parameters declared before are read, not declared again, so values
    set while unconfigured apply; a bad override is declared as given (untyped)
    instead of left out, so `ros2 param set` can fix it before the next configure."""
    first_error = None
    for spec in PARAMETERS:
        if managed and node.has_parameter(spec.name):
            continue
        descriptor = parameter_descriptor(spec, managed)
        try:
            node.declare_parameter(spec.name, spec.default, descriptor)
        except (InvalidParameterTypeException, InvalidParameterValueException):
            given = given_value(node, spec.name)
            error = _bad_override(spec, given)
            if error is None:
                # An integer written for a floating-point parameter (`hysteresis: 1`)
                # is accepted when in range.
                node.declare_parameter(spec.name, float(given), descriptor, ignore_override=True)
            elif not managed:
                raise error from None
            else:
                node.declare_parameter(spec.name, given, ParameterDescriptor(
                    name=spec.name, description=spec.description, dynamic_typing=True),
                    ignore_override=True)
                first_error = first_error or error
    if first_error is not None:
        raise first_error
    values = {spec.name: declared_value(node, spec.name) for spec in PARAMETERS}
    # `input_labels: []` reaches rclpy as NOT_SET (uninitialised): the canonical order.
    values["input_labels"] = list(values["input_labels"] or [])
    try:
        values = validate_parameters(values)
    except ParameterError as error:
        raise StartupError(str(error)) from None
    _warn_unknown_overrides(node)
    return values


def _bad_override(spec, given) -> StartupError | None:
    """The startup error for an override rclpy refused, None if it is an int for a float."""
    try:
        check_parameter(spec.name, given)
    except ParameterError as error:
        return StartupError(str(error))
    if not is_int_for_float(spec, given):
        return StartupError(str(ParameterError(
            spec.name, given, f"{spec.allowed()}, of type {type(spec.default).__name__}")))
    return None


def declared_value(node, name: str) -> Any:
    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:  # an empty YAML list has no type in rcl
        return None


def given_value(node, name: str) -> Any:
    """The override a user gave for `name` (declared untyped to read it, then undone)."""
    parameter = node.declare_parameter(
        name, None, ParameterDescriptor(dynamic_typing=True))
    value = parameter.value
    node.undeclare_parameter(name)
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        value = list(value)
    return value


def _warn_unknown_overrides(node) -> None:
    overrides = parameter_overrides(node)
    unknown = unknown_parameter_names(overrides)
    if unknown:
        node.get_logger().warning(
            f"ignoring unknown parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(SPECS)}")


def coerce_parameters(parameters: list[Parameter]) -> list[Parameter]:
    """`ros2 param set ... hysteresis 1` sends an integer: take it as 1.0."""
    return [Parameter(p.name, value=float(p.value))
            if p.name in SPECS and is_int_for_float(SPECS[p.name], p.value) else p
            for p in parameters]


def check_set_request(values: dict[str, Any], parameters: list[Parameter],
                      static_hint: str = "set it at startup") -> SetParametersResult:
    """Accept or refuse a runtime set request against the current `values`."""
    pending = dict(values)
    for parameter in parameters:
        spec = SPECS.get(parameter.name)
        if spec is None:
            continue  # use_sim_time and other rclpy-owned parameters
        if not spec.dynamic:
            return SetParametersResult(
                successful=False,
                reason=f"parameter '{spec.name}' is read-only; {static_hint}")
        try:
            check_parameter(spec.name, parameter.value)
        except ParameterError as error:
            return SetParametersResult(successful=False, reason=str(error))
        pending[spec.name] = parameter.value
    try:
        check_thresholds(pending["positive_threshold"], pending["negative_threshold"],
                         pending["hysteresis"], changed=[p.name for p in parameters])
    except ParameterError as error:
        return SetParametersResult(successful=False, reason=str(error))
    return SetParametersResult(successful=True)


def changed_values(parameters: list[Parameter]) -> dict[str, Any]:
    """The table's parameters among an accepted set request."""
    return {p.name: p.value for p in parameters if p.name in SPECS}
