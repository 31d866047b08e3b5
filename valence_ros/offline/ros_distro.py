"""Which ROS 2 distro this process runs with, for the rules that differ between distros.

The analyser must refuse exactly the params files the live node's rcl refuses, and
rcl's YAML parser differs between distros (docs/platforms.md lists every known
difference). The pip wheels set no ROS_DISTRO, so the distro is found out in this
order, without importing any ROS package:

1. ROS_DISTRO in the environment (a sourced ROS 2 install sets it);
2. the version of the installed `ros-rclpy` wheel (its major version names the
   distro: 7 Jazzy, 9 Kilted);
3. neither: None, "unknown" - the strictest rules of the supported distros then
   (a file the analyser reads is read by every supported distro's node).

The rules themselves are plain data in valence_ros.core.params_file (the pure core
is told them; it never finds anything out).
"""
from __future__ import annotations

import os
from importlib import metadata
from typing import Mapping

from valence_ros.core.params_file import STRICTEST_RULES, RclRules

__all__ = ["SUPPORTED_DISTROS", "RCLPY_MAJOR_TO_DISTRO", "detect_ros_distro", "rcl_rules_for",
           "rosbags_store_for"]

# Built and tested in CI (make test ROS_DISTRO=...): the pip wheels exist for these.
SUPPORTED_DISTROS = ("jazzy", "kilted")
# rclpy's major version per distro (Humble 3, Iron 5, Jazzy 7, Kilted 9, Rolling 10).
RCLPY_MAJOR_TO_DISTRO = {3: "humble", 5: "iron", 7: "jazzy", 9: "kilted"}

_RULES = {
    # Jazzy's rcl_yaml_param_parser refuses a node key after ros__parameters in
    # the same mapping ("/**: {ros__parameters: {...}, child: {ros__parameters: ...}}").
    "jazzy": RclRules(node_key_after_ros_parameters=False),
    # Kilted's reads it (the child entry names a node one level down).
    "kilted": RclRules(node_key_after_ros_parameters=True),
}


def detect_ros_distro(environ: Mapping[str, str] | None = None,
                      rclpy_version: str | None = None) -> str | None:
    """The distro's lower-case name, or None when nothing says which. `environ`
    and `rclpy_version` default to this process's (given explicitly in tests)."""
    environ = os.environ if environ is None else environ
    named = environ.get("ROS_DISTRO", "").strip().lower()
    if named:
        return named
    if rclpy_version is None:
        try:
            rclpy_version = metadata.version("ros-rclpy")
        except metadata.PackageNotFoundError:
            return None
    try:
        major = int(rclpy_version.split(".", 1)[0])
    except ValueError:
        return None
    return RCLPY_MAJOR_TO_DISTRO.get(major)


def rcl_rules_for(distro: str | None) -> RclRules:
    """The params-file rules of `distro`; the strictest for any other or None
    (Humble's rcl was not available to check: docs/platforms.md)."""
    return _RULES.get(distro or "", STRICTEST_RULES)


def rosbags_store_for(distro: str | None) -> str:
    """The name of the rosbags type store (rosbags.typesys.Stores) for `distro`:
    its message definitions for the standard types bags refer to. Jazzy's (the
    LTS) when the distro is unknown; the types this package writes (its own,
    std_msgs/Header) have the same definitions and type hashes in both."""
    from rosbags.typesys import Stores
    name = f"ROS2_{(distro or '').upper()}"
    return name if name in Stores.__members__ else "ROS2_JAZZY"
