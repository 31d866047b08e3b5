"""The parameter table: ranges, choices, cross-checks and the params-file reader."""
from __future__ import annotations

import math
import textwrap

import pytest

from valence_ros.core.face_tracker import TrackerConfig
from valence_ros.core.parameters import (
    DEFAULTS,
    PARAMETERS,
    SPECS,
    ParameterError,
    check_parameter,
    check_thresholds,
    input_labels_of,
    load_params_file,
    tracker_config,
    validate_parameters,
)


def test_table_is_consistent():
    assert len(SPECS) == len(PARAMETERS)
    for spec in PARAMETERS:
        check_parameter(spec.name, spec.default)       # every default is valid
        assert spec.description.strip()
        if spec.minimum is not None:
            assert spec.minimum <= spec.default <= spec.maximum
            assert spec.choices is None
        if spec.choices is not None:
            assert spec.default in spec.choices
    assert validate_parameters({}) == DEFAULTS


@pytest.mark.parametrize("spec", [s for s in PARAMETERS if s.minimum is not None], ids=lambda s: s.name)
def test_numeric_ranges_inclusive(spec):
    check_parameter(spec.name, spec.minimum)
    check_parameter(spec.name, spec.maximum)
    step = 1 if isinstance(spec.default, int) else 1e-6
    for bad in (spec.minimum - step, spec.maximum + step, math.nan, math.inf, "1", True, None):
        with pytest.raises(ParameterError) as error:
            check_parameter(spec.name, bad)
        message = str(error.value)
        assert message.startswith(f"parameter '{spec.name}' = ")
        assert f"allowed: [{spec.minimum}, {spec.maximum}]" in message
        assert "\n" not in message


def test_error_message_format():
    with pytest.raises(ParameterError) as error:
        check_parameter("hysteresis", 5.0)
    assert str(error.value) == "parameter 'hysteresis' = 5.0 is invalid; allowed: [0.0, 2.0]"
    assert error.value.name == "hysteresis"


def test_int_parameters_reject_floats_but_floats_accept_ints():
    # As the node (rcl) types them: `max_faces: 2.0` is a double, not an integer.
    for bad in (2.5, 2.0):
        with pytest.raises(ParameterError):
            check_parameter("max_faces", bad)
    check_parameter("max_faces", 2)
    check_parameter("hysteresis", 1)


@pytest.mark.parametrize("name", ["input_type", "input_qos_reliability"])
def test_choices(name):
    for choice in SPECS[name].choices:
        check_parameter(name, choice)
    with pytest.raises(ParameterError, match="one of"):
        check_parameter(name, "other")
    with pytest.raises(ParameterError):
        check_parameter(name, 1)


def test_input_labels():
    check_parameter("input_labels", ["fer2013"])
    check_parameter("input_labels", ["Happy", "sad", "contempt"])
    check_parameter("input_labels", [""])
    check_parameter("input_labels", [])
    for bad in (["happy", "joy"], ["contempt"], "fer2013", [1, 2], [1], [None]):
        with pytest.raises(ParameterError, match="input_labels"):
            check_parameter("input_labels", bad)
    assert input_labels_of({"input_labels": ["", "happy", ""]}) == ["happy"]
    assert input_labels_of({"input_labels": [""]}) == []


def test_threshold_cross_check():
    check_thresholds(0.3, -0.3, 0.1)
    for positive, negative in ((0.1, 0.1), (-0.5, -0.2)):
        with pytest.raises(ParameterError, match="negative_threshold"):
            check_thresholds(positive, negative, 0.0)
    with pytest.raises(ParameterError, match="negative_threshold"):
        validate_parameters({"positive_threshold": 0.0, "negative_threshold": 0.2})


def test_hysteresis_must_be_narrower_than_the_neutral_band():
    # Otherwise valence beyond the opposite threshold could not leave a state.
    check_thresholds(0.3, -0.3, 0.59)
    for hysteresis in (0.6, 0.7, 2.0):
        with pytest.raises(ParameterError, match="hysteresis") as error:
            check_thresholds(0.3, -0.3, hysteresis)
        assert "below positive_threshold - negative_threshold (0.6)" in str(error.value)
    with pytest.raises(ParameterError, match="hysteresis"):
        validate_parameters({"hysteresis": 1.0})


def test_unknown_parameter_rejected_but_use_sim_time_allowed():
    with pytest.raises(ParameterError, match="smoothing_time_constnt"):
        validate_parameters({"smoothing_time_constnt": 1.0})
    assert validate_parameters({"use_sim_time": True}) == DEFAULTS


def test_tracker_config():
    config = tracker_config({**DEFAULTS, "smoothing_time_constant": 1, "max_faces": 7,
                             "hysteresis": 0.2})
    assert isinstance(config, TrackerConfig)
    assert config.smoothing_time_constant == 1.0 and isinstance(config.smoothing_time_constant, float)
    assert config.max_faces == 7 and config.thresholds.hysteresis == 0.2
    assert config.face_timeout == DEFAULTS["face_timeout"]


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_load_params_file_node_name_wildcard_and_namespace(tmp_path):
    path = write(tmp_path, """\
        /**:
          ros__parameters:
            use_sim_time: true
            hysteresis: 0.2
        valence_node:
          ros__parameters:
            face_timeout: 3.0
        /robot1/valence_node:
          ros__parameters:
            max_faces: 8
        other_node:
          ros__parameters:
            max_faces: 1000
        """)
    values = load_params_file(path)  # the node at /valence_node
    assert values["hysteresis"] == 0.2 and values["face_timeout"] == 3.0
    assert values["max_faces"] == DEFAULTS["max_faces"]  # /robot1/valence_node is another node
    in_robot1 = load_params_file(path, node_fqn="/robot1/valence_node")
    assert in_robot1["max_faces"] == 8 and in_robot1["face_timeout"] == DEFAULTS["face_timeout"]
    only_wildcard = load_params_file(path, node_fqn="/my_valence")
    assert only_wildcard["hysteresis"] == 0.2 and only_wildcard["face_timeout"] == DEFAULTS["face_timeout"]


@pytest.mark.parametrize("key, fqn, applies", [
    ("/**", "/a/b/valence_node", True),
    ("/*", "/valence_node", True),
    ("/*", "/robot1/valence_node", False),
    ("/*/valence_node", "/robot1/valence_node", True),
    ("/**/valence_node", "/valence_node", True),
    ("/**/valence_node", "/a/b/valence_node", True),
    ("/**/valence_node", "/a/other", False),
    ("valence_node", "/valence_node", True),
    ("valence_node", "/robot1/valence_node", False),
])
def test_load_params_file_matches_keys_like_rcl(tmp_path, key, fqn, applies):
    path = write(tmp_path, f"""\
        {key}:
          ros__parameters:
            hysteresis: 0.2
        """)
    assert (load_params_file(path, node_fqn=fqn)["hysteresis"] == 0.2) is applies


def test_load_params_file_types_scalars_like_rcl(tmp_path):
    # rcl reads 1e3 as a double (PyYAML's YAML 1.1 would read a string) and 16.0 as a double.
    path = write(tmp_path, """\
        /**:
          ros__parameters:
            face_timeout: 1e3
            smoothing_time_constant: 5e-1
        """)
    values = load_params_file(path)
    assert values["face_timeout"] == 1000.0 and values["smoothing_time_constant"] == 0.5
    path = write(tmp_path, "/**:\n  ros__parameters:\n    max_faces: 16.0\n")
    with pytest.raises(ParameterError, match="max_faces"):
        load_params_file(path)


def test_load_params_file_ignores_names_the_node_ignores(tmp_path):
    path = write(tmp_path, """\
        /**:
          ros__parameters:
            qos_overrides:
              /valence:
                publisher:
                  depth: 5
            smoothing_time_constnt: 1.0
            hysteresis: 0.2
        """)
    unknown = []
    assert load_params_file(path, unknown=unknown)["hysteresis"] == 0.2
    assert unknown == ["smoothing_time_constnt"]  # qos_overrides are rclpy's: silent, as in the node


def test_load_params_file_any_namespace_key(tmp_path):
    path = write(tmp_path, """\
        /**/valence_node:
          ros__parameters:
            input_labels: [fer2013]
        """)
    assert load_params_file(path)["input_labels"] == ["fer2013"]


@pytest.mark.parametrize("text, name", [
    ("valence_node:\n  ros__parameters:\n    hysteresis: 5.0\n", "hysteresis"),
    ("valence_node:\n  ros__parameters:\n    hysteresis: 0.8\n", "hysteresis"),
    ("valence_node: [unclosed\n", "params_file"),
])
def test_load_params_file_errors_name_the_parameter(tmp_path, text, name):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError) as error:
        load_params_file(path)
    assert error.value.name == name
    assert "\n" not in str(error.value)


def test_load_params_file_missing_file(tmp_path):
    with pytest.raises(ParameterError, match="params_file"):
        load_params_file(tmp_path / "nope.yaml")


def test_cross_check_names_the_parameter_that_was_set():
    # Issue 11, defect 7: a set request naming only positive_threshold was refused
    # naming negative_threshold, which the user had not touched.
    cases = [
        ((-0.5, -0.3, 0.1), ["positive_threshold"], "'positive_threshold' = -0.5",
         "above negative_threshold (-0.3)"),
        ((0.3, 0.4, 0.1), ["negative_threshold"], "'negative_threshold' = 0.4",
         "below positive_threshold (0.3)"),
        ((0.3, -0.3, 0.7), ["hysteresis"], "'hysteresis' = 0.7",
         "below positive_threshold - negative_threshold (0.6)"),
        ((0.05, -0.3, 0.4), ["positive_threshold"], "'positive_threshold' = 0.05",
         "above negative_threshold + hysteresis (0.1)"),
        ((0.3, 0.0, 0.4), ["negative_threshold"], "'negative_threshold' = 0.0",
         "below positive_threshold - hysteresis (-0.1)"),
        # Both thresholds in one request: the lower one is named, as without `changed`.
        ((0.0, 0.2, 0.1), ["positive_threshold", "negative_threshold"], "'negative_threshold' = 0.2",
         "below positive_threshold (0.0)"),
    ]
    for (positive, negative, hysteresis), changed, named, why in cases:
        with pytest.raises(ParameterError) as error:
            check_thresholds(positive, negative, hysteresis, changed=changed)
        assert named in str(error.value) and why in str(error.value), (changed, str(error.value))
        assert error.value.name in changed


def test_startup_cross_check_names_a_value_the_user_gave():
    with pytest.raises(ParameterError) as error:
        validate_parameters({"positive_threshold": -0.5})
    assert error.value.name == "positive_threshold"
    with pytest.raises(ParameterError) as error:
        validate_parameters({"negative_threshold": 0.25, "hysteresis": 0.1})
    assert error.value.name == "negative_threshold"
