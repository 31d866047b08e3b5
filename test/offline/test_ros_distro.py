"""ros_distro: which distro's rules the analyser follows (pure: explicit inputs), and
the params-file rule that differs, through the analyser's whole parameter path."""
import subprocess
import sys

import pytest
from rosbags.typesys import Stores

from valence_ros.core.parameters import ParameterError, load_params_file
from valence_ros.core.params_file import STRICTEST_RULES, ParamsFileError, read_node_parameters
from valence_ros.offline.ros_distro import (
    SUPPORTED_DISTROS,
    detect_ros_distro,
    rcl_rules_for,
    rosbags_store_for,
)

CHILD_AFTER = "/**:\n  ros__parameters:\n    hysteresis: 0.2\n  child:\n    ros__parameters:\n      x: 1\n"
CHILD_BEFORE = "/**:\n  child:\n    ros__parameters:\n      x: 1\n  ros__parameters:\n    hysteresis: 0.2\n"


@pytest.mark.parametrize("environ, version, expected", [
    ({"ROS_DISTRO": "jazzy"}, "9.1.2", "jazzy"),        # a sourced install's word first
    ({"ROS_DISTRO": " Kilted\n"}, None, "kilted"),
    ({"ROS_DISTRO": "humble"}, None, "humble"),
    ({}, "7.1.6", "jazzy"),                             # the pip wheels set no ROS_DISTRO
    ({}, "9.1.2", "kilted"),
    ({"ROS_DISTRO": ""}, "9.1.2", "kilted"),
    ({}, "3.3.16", "humble"),
    ({}, "42.0.0", None),                               # a future rclpy: unknown
    ({}, "not-a-version", None),
])
def test_detect_ros_distro(environ, version, expected):
    assert detect_ros_distro(environ, version) == expected


def test_without_rclpy_nothing_says_which():
    # a plain venv (pip install .): no ROS_DISTRO, no ros-rclpy distribution
    code = ("import importlib.metadata as m, sys\n"
            "from valence_ros.offline.ros_distro import detect_ros_distro\n"
            "try:\n    m.version('ros-rclpy'); print('has-rclpy')\n"
            "except m.PackageNotFoundError:\n    print(detect_ros_distro({}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    if proc.stdout.strip() == "has-rclpy":
        assert detect_ros_distro({}) in SUPPORTED_DISTROS   # this venv: the wheels' distro
    else:
        assert proc.stdout.strip() == "None"


def test_rules_per_distro(tmp_path):
    after, before = tmp_path / "after.yaml", tmp_path / "before.yaml"
    after.write_text(CHILD_AFTER)
    before.write_text(CHILD_BEFORE)
    assert rcl_rules_for("kilted").node_key_after_ros_parameters
    for distro in ("jazzy", "humble", None, "rolling"):     # unknown ones: the strictest rules
        assert rcl_rules_for(distro) == (STRICTEST_RULES if distro != "jazzy" else rcl_rules_for("jazzy"))
        with pytest.raises(ParamsFileError, match="'child' follows ros__parameters"):
            read_node_parameters(after, "/valence_node", rcl_rules_for(distro))
    assert read_node_parameters(after, "/valence_node", rcl_rules_for("kilted")) == {"hysteresis": 0.2}
    assert read_node_parameters(after, "/child", rcl_rules_for("kilted")) == {"hysteresis": 0.2, "x": 1}  # /** too
    for distro in SUPPORTED_DISTROS:                         # before ros__parameters: read by both
        assert read_node_parameters(before, "/valence_node", rcl_rules_for(distro)) == {"hysteresis": 0.2}
    with pytest.raises(ParameterError, match="params_file.*follows ros__parameters"):
        load_params_file(after, rules=rcl_rules_for("jazzy"))
    assert load_params_file(after, rules=rcl_rules_for("kilted"))["hysteresis"] == 0.2


def test_rosbags_store_per_distro():
    assert rosbags_store_for("jazzy") == "ROS2_JAZZY" and rosbags_store_for("kilted") == "ROS2_KILTED"
    assert rosbags_store_for("humble") == "ROS2_HUMBLE"
    assert rosbags_store_for(None) == rosbags_store_for("no-such-distro") == "ROS2_JAZZY"
    assert all(name in Stores.__members__ for name in map(rosbags_store_for, SUPPORTED_DISTROS))
