"""params_file reads a params YAML exactly as rcl does, checked against real rcl.

Each case loads one file both ways: through rclpy (a node with
automatically_declare_parameters_from_overrides, so rcl's parser decides
names, node matching and types) and through read_node_parameters.
"""
import math
import textwrap

import pytest

from valence_ros.core.params_file import ParamsFileError, read_node_parameters

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
