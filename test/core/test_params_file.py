"""params_file reads a params YAML exactly as rcl does, checked against real rcl.

Each case loads one file both ways: through rclpy (a node with
automatically_declare_parameters_from_overrides, so rcl's parser decides
names, node matching and types) and through read_node_parameters.
"""
import math
import os
import textwrap

import pytest

from valence_ros.core.params_file import ParamsFileError, read_node_parameters
from valence_ros.offline.ros_distro import SUPPORTED_DISTROS, detect_ros_distro, rcl_rules_for

# The rules of the distro these tests run on, found out as valence_analyze finds them out.
DISTRO = detect_ros_distro()
RULES = rcl_rules_for(DISTRO)

pytestmark = pytest.mark.ros

SCALARS = {  # parameter name -> YAML text of its value
    "exp_float": "1e3", "neg_dot_float": "-.3", "plus_dot_float": "+.5", "trailing_dot": "1.",
    "dot_five": ".5", "underscored": "1_000", "hex": "0x10", "octal": "017", "leading_zero": "08",
    "yes_word": "yes", "y_letter": "y", "off_word": "OFF", "tilde": "~", "null_word": "null",
    "date": "2001-12-14", "quoted_number": "'1e3'", "huge_int": "9999999999999999999",
    "sexagesimal": "1:30", "infinity": ".inf", "strings": "[a, B]", "ints": "[1, 2]",
    "plain": "hello", "negative_int": "-42",
}

NODE_LAYOUTS = {  # file layout -> YAML with one parameter `hit: 1`
    "wildcard": "/**:\n  ros__parameters:\n    hit: 1\n",
    "one_token": "/*:\n  ros__parameters:\n    hit: 1\n",
    "relative_name": "valence_node:\n  ros__parameters:\n    hit: 1\n",
    "any_namespace": "/**/valence_node:\n  ros__parameters:\n    hit: 1\n",
    "full_name": "/robot1/valence_node:\n  ros__parameters:\n    hit: 1\n",
    "nested_ns": "/robot1:\n  valence_node:\n    ros__parameters:\n      hit: 1\n",
    "nested_relative": "robot1:\n  valence_node:\n    ros__parameters:\n      hit: 1\n",
    "nested_wildcard": "/**:\n  valence_node:\n    ros__parameters:\n      hit: 1\n",
    "deep": "/a:\n  b:\n    valence_node:\n      ros__parameters:\n        hit: 1\n",
    "other_node": "other:\n  ros__parameters:\n    hit: 1\n",
}
NAMESPACES = ["/", "/robot1", "/a/b"]


def rcl_parameters(path, namespace):
    """What rcl gives a node named valence_node in `namespace` from the file."""
    import rclpy
    from rclpy.node import Node
    context = rclpy.Context()
    rclpy.init(args=["--ros-args", "--params-file", str(path)], context=context)
    try:
        node = Node("valence_node", namespace=namespace, context=context,
                    automatically_declare_parameters_from_overrides=True)
        try:
            values = {name: p.value for name, p in node.get_parameters_by_prefix("").items()
                      if name not in ("use_sim_time", "start_type_description_service")}
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return {k: (list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)
            for k, v in values.items()}


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_scalars_are_typed_like_rcl(tmp_path):
    path = tmp_path / "scalars.yaml"
    lines = "".join(f"    {name}: {text}\n" for name, text in SCALARS.items())
    path.write_text("/**:\n  ros__parameters:\n" + lines)
    ours = read_node_parameters(path, "/valence_node")
    theirs = rcl_parameters(path, "/")
    assert set(ours) == set(theirs) == set(SCALARS)
    wrong = {name: (ours[name], theirs[name]) for name in SCALARS if not same(ours[name], theirs[name])}
    assert not wrong, wrong


@pytest.mark.parametrize("layout", sorted(NODE_LAYOUTS))
def test_node_entries_match_like_rcl(tmp_path, layout):
    path = tmp_path / f"{layout}.yaml"
    path.write_text(NODE_LAYOUTS[layout])
    for namespace in NAMESPACES:
        fqn = namespace.rstrip("/") + "/valence_node"
        ours = read_node_parameters(path, fqn)
        theirs = rcl_parameters(path, namespace)
        assert ours == theirs, (layout, fqn, ours, theirs)


def test_nested_dotted_names_like_rcl(tmp_path):
    path = tmp_path / "nested.yaml"
    path.write_text(textwrap.dedent("""\
        /**:
          ros__parameters:
            qos_overrides:
              /valence:
                publisher:
                  depth: 5
            hysteresis: 0.2
        """))
    assert read_node_parameters(path, "/valence_node") == rcl_parameters(path, "/")


def test_key_rcl_refuses_is_an_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("/valence_*:\n  ros__parameters:\n    hysteresis: 0.2\n")
    with pytest.raises(ParamsFileError, match="wildcards"):
        read_node_parameters(path, "/valence_node")
    with pytest.raises(Exception):  # noqa: B017  rcl refuses the file as well (its own exception types)
        rcl_parameters(path, "/")


# ------------------------------------------------------------------ the file's shape (issue 11)
# Non-mapping values at each level: the document, a namespace, a node entry,
# ros__parameters, a parameter, a list item. rcl refuses a file (the node exits
# 2) exactly when read_node_parameters raises ParamsFileError.
STRUCTURE_CASES = {
    "document_scalar": "hello\n",
    "document_int": "5\n",
    "document_list": "- a\n- b\n",
    "document_list_of_lists": "[[1]]\n",
    "document_empty": "",
    "document_null": "~\n",
    "document_empty_mapping": "{}\n",
    "node_scalar": "/**: 5\n",
    "node_no_value": "/**:\n",
    "node_list": "/**: [1, 2]\n",
    "node_list_of_mappings": "/**:\n  - ros__parameters:\n      hit: 1\n",
    "node_empty_mapping": "/**: {}\n",
    "namespace_scalar": "/robot1: 5\n",
    "namespace_child_scalar": "/robot1:\n  x: 5\n  valence_node:\n    ros__parameters:\n      hit: 1\n",
    "namespace_child_list": "/robot1:\n  x: [1]\n  valence_node:\n    ros__parameters:\n      hit: 1\n",
    "namespace_empty_then_node": "/robot1: {}\n/**:\n  ros__parameters:\n    hit: 1\n",
    "ros_parameters_scalar": "/**:\n  ros__parameters: 5\n",
    "ros_parameters_string": "/**:\n  ros__parameters: hello\n",
    "ros_parameters_no_value": "/**:\n  ros__parameters:\n",
    "ros_parameters_list": "/**:\n  ros__parameters: [1, 2]\n",
    "ros_parameters_list_of_scalars": "/**:\n  ros__parameters:\n    - 1\n",
    "ros_parameters_empty_mapping": "/**:\n  ros__parameters: {}\n",
    "ros_parameters_without_node": "ros__parameters:\n  hit: 1\n",
    "scalar_beside_ros_parameters": "/**:\n  other: 1\n  ros__parameters:\n    hit: 1\n",
    "scalar_after_ros_parameters": "/**:\n  ros__parameters:\n    hit: 1\n  other: 1\n",
    "child_node_beside_ros_parameters": "/**:\n  ros__parameters:\n    hit: 1\n  child:\n    ros__parameters:\n      x: 1\n",
    "namespace_beside_ros_parameters":
        "/**:\n  ros__parameters:\n    hit: 1\n  ns:\n    child:\n      ros__parameters:\n        x: 1\n",
    "typeless_child_beside_ros_parameters":
        "/**:\n  ros__parameters:\n    hit: 1\n  child:\n    ros__parameters:\n      x: {}\n",
    "nested_node_then_child": "/ns:\n  valence_node:\n    ros__parameters:\n      hit: 1\n    child:\n"
                              "      ros__parameters:\n        x: 1\n",
    "empty_child_beside_ros_parameters": "/**:\n  ros__parameters:\n    hit: 1\n  child:\n    ros__parameters: {}\n",
    "empty_mapping_beside_ros_parameters": "/**:\n  ros__parameters:\n    hit: 1\n  child:\n    sub: {}\n",
    "child_node_before_ros_parameters": "/**:\n  child:\n    ros__parameters:\n      x: 1\n  ros__parameters:\n    hit: 1\n",
    "other_node_broken": "/other:\n  ros__parameters: 5\n/**:\n  ros__parameters:\n    hit: 1\n",
    "other_node_mixed_list": "/other:\n  ros__parameters:\n    x: [1, a]\n/**:\n  ros__parameters:\n    hit: 1\n",
    "parameter_no_value": "/**:\n  ros__parameters:\n    hit:\n",
    "nested_parameter_no_value": "/**:\n  ros__parameters:\n    a:\n      b:\n",
    "parameter_empty_list": "/**:\n  ros__parameters:\n    hit: []\n",
    "parameter_empty_mapping": "/**:\n  ros__parameters:\n    hit: {}\n",
    "list_mixed_int_string": "/**:\n  ros__parameters:\n    hit: [1, a]\n",
    "list_mixed_int_double": "/**:\n  ros__parameters:\n    hit: [1, 2.5]\n",
    "list_mixed_bool_int": "/**:\n  ros__parameters:\n    hit: [true, 1]\n",
    "list_item_no_value": "/**:\n  ros__parameters:\n    hit:\n      - a\n      -\n",
    "list_of_lists_two": "/**:\n  ros__parameters:\n    hit: [[1], [2]]\n",
    "list_strings_like_null": "/**:\n  ros__parameters:\n    hit: [~, null, '']\n",
    "empty_parameter_name": "/**:\n  ros__parameters:\n    '': 1\n",
    "mapping_as_parameter_name": "/**:\n  ros__parameters:\n    ? {a: 1}\n    : 1\n",
    "alias": "/**:\n  ros__parameters:\n    a: &x 1\n    hit: *x\n",
    "anchor_without_alias": "/**: &a\n  ros__parameters:\n    hit: 1\n",
}
# rcl reads these without an error but into undocumented names or types (a list
# nested in a list is flattened or left unset, a mapping in a list turns into
# `hit.a.a`, two YAML documents are merged): the analyser refuses them instead
# of guessing, and says why. Each entry: what rcl made of it, checked below so a
# change in rcl shows up here.
STRICTER_CASES = {
    "ros_parameters_list_of_mappings": ("/**:\n  ros__parameters:\n    - a: 1\n", {"a": [1]}),
    "list_of_lists": ("/**:\n  ros__parameters:\n    hit: [[1]]\n", {"hit": [1]}),
    "list_of_mappings": ("/**:\n  ros__parameters:\n    hit: [{a: 1}, {a: 2}]\n", {"hit.a.a": [1, 2]}),
    "two_documents": ("/**:\n  ros__parameters:\n    hit: 1\n---\n/**:\n  ros__parameters:\n    hit: 2\n",
                      {"hit": 2}),
}


def rcl_overrides(path, namespace="/"):
    """The overrides rcl parsed for valence_node in `namespace` (None for a typeless,
    NOT_SET value), or the exception rclpy.init raised for the file."""
    import rclpy
    from rclpy.node import Node
    context = rclpy.Context()
    try:
        rclpy.init(args=["--ros-args", "--params-file", str(path)], context=context)
    except Exception as error:  # rcl refused the file
        return error
    try:
        node = Node("valence_node", namespace=namespace, context=context)
        try:
            overrides = {name: p.value for name, p in node._parameter_overrides.items()
                         if name not in ("use_sim_time", "start_type_description_service")}
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return {k: (list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)
            for k, v in overrides.items()}


def ours_or_error(path, fqn="/valence_node"):
    try:
        return read_node_parameters(path, fqn, RULES)
    except ParamsFileError as error:
        return error


@pytest.mark.parametrize("case", sorted(STRUCTURE_CASES))
def test_file_shapes_refused_exactly_when_rcl_refuses(tmp_path, case):
    path = tmp_path / f"{case}.yaml"
    path.write_text(STRUCTURE_CASES[case])
    theirs, ours = rcl_overrides(path), ours_or_error(path)
    if isinstance(theirs, Exception):
        assert isinstance(ours, ParamsFileError), (case, "rcl refuses; we read", ours)
        assert str(ours) and "\n" not in str(ours)
    else:
        assert not isinstance(ours, Exception), (case, "rcl reads", theirs, "we refuse:", ours)
        assert ours == theirs, (case, ours, theirs)


# Where the distros' rcl differ (docs/platforms.md): case -> {distro: rcl reads the file}.
# test_file_shapes_refused_exactly_when_rcl_refuses checks the analyser against the rcl
# at hand; this says what that rcl is expected to do on each distro, so a difference
# that goes away or a detection that picks the wrong distro shows up.
DISTRO_DIFFERENCES = {
    "child_node_beside_ros_parameters": {"jazzy": False, "kilted": True},
    "namespace_beside_ros_parameters": {"jazzy": False, "kilted": True},
    "typeless_child_beside_ros_parameters": {"jazzy": False, "kilted": True},
    "nested_node_then_child": {"jazzy": False, "kilted": True},
    # read by both: nothing below the later key holds a parameter, or it comes first
    "empty_child_beside_ros_parameters": {"jazzy": True, "kilted": True},
    "empty_mapping_beside_ros_parameters": {"jazzy": True, "kilted": True},
    "child_node_before_ros_parameters": {"jazzy": True, "kilted": True},
}


def test_this_distros_rcl_differs_as_documented(tmp_path):
    expected = os.environ.get("VALENCE_TEST_ROS_DISTRO")   # set by make test ROS_DISTRO=...
    if expected:
        assert DISTRO == expected, f"detected {DISTRO!r}, make test ran for {expected!r}"
    if DISTRO not in SUPPORTED_DISTROS:
        pytest.skip(f"ROS 2 distro {DISTRO!r}: its rcl differences are not known (docs/platforms.md)")
    for case, reads in DISTRO_DIFFERENCES.items():
        path = tmp_path / f"{case}.yaml"
        path.write_text(STRUCTURE_CASES[case])
        theirs = rcl_overrides(path)
        assert (not isinstance(theirs, Exception)) == reads[DISTRO], (case, DISTRO, theirs)
        ours = ours_or_error(path)
        assert (not isinstance(ours, Exception)) == reads[DISTRO], (case, DISTRO, ours)


@pytest.mark.parametrize("case", sorted(STRICTER_CASES))
def test_files_rcl_misreads_are_refused_with_a_reason(tmp_path, case):
    text, rcl_reading = STRICTER_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    assert rcl_overrides(path) == rcl_reading
    with pytest.raises(ParamsFileError, match="list may hold only scalars|holds a list|single document"):
        read_node_parameters(path, "/valence_node")


def test_analyser_refuses_what_the_node_refuses(tmp_path):
    """Through the analyser's whole parameter path: the same one-line refusals."""
    from valence_ros.core.parameters import ParameterError, load_params_file
    for name in ("ros_parameters_scalar", "node_list", "parameter_no_value", "list_mixed_int_string"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(STRUCTURE_CASES[name])
        with pytest.raises(ParameterError, match="params_file"):
            load_params_file(path)
    path = tmp_path / "typeless.yaml"
    path.write_text("/**:\n  ros__parameters:\n    hysteresis: {}\n    input_labels: []\n")
    with pytest.raises(ParameterError, match="'hysteresis' = None is invalid"):   # the node's words
        load_params_file(path)
