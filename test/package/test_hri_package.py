"""ROS4HRI packaging: the hri_msgs test fixture is wire-compatible with the real
hri_msgs 2.3.2 (type hashes) and never part of valence_ros; package.xml declares
hri_msgs so that rosdep works on distributions without it."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers.install import REPO, require_hri_msgs

# hri_msgs 2.3.2 built with the Kilted generators (issue 10).
REAL_HASHES = {
    "hri_msgs/msg/Expression":
        "RIHS01_411b88e0604397d44775d8ec6a4bc69398fb0dfbfe864c33a40fa99ee85f1b00",
    "hri_msgs/msg/IdsList":
        "RIHS01_7e0812d1ac945c98fd3e393568d581ad0ab567f37b24eff633eab778c1bfe62d",
}
FIXTURE = REPO / "test" / "fixtures" / "hri_msgs"
HRI_CONDITION = "$ROS_DISTRO == humble or $ROS_DISTRO == jazzy or $ROS_DISTRO == rolling"


def _type_description_hash(type_name: str) -> str:
    """The RIHS01 hash rosidl generated for `type_name`, from the installed
    share/<pkg>/msg/<Name>.json (what the typesupport registers with the RMW)."""
    from ament_index_python.packages import get_package_share_directory
    package, _, name = type_name.split("/")
    path = Path(get_package_share_directory(package)) / "msg" / f"{name}.json"
    hashes = {h["type_name"]: h["hash_string"] for h in json.loads(path.read_text())["type_hashes"]}
    return hashes[type_name]


@pytest.mark.parametrize("type_name", sorted(REAL_HASHES))
def test_hri_msgs_type_hash_equals_the_real_packages(type_name):
    require_hri_msgs()
    assert _type_description_hash(type_name) == REAL_HASHES[type_name]


def test_hri_msgs_fields_and_expression_constants():
    msg = require_hri_msgs()
    assert msg.Expression.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "expression": "string", "valence": "float",
        "arousal": "float", "confidence": "float"}
    assert msg.IdsList.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "ids": "sequence<string>"}
    for name in ("neutral", "happy", "sad", "angry", "surprised", "scared", "disgusted"):
        assert getattr(msg.Expression, name.upper()) == name


def test_fixture_is_ignored_by_colcon_and_rosdep_crawls():
    assert (REPO / "test" / "fixtures" / "COLCON_IGNORE").is_file()
    from catkin_pkg.packages import find_packages
    # rosdep install --from-paths and colcon crawl like this: only valence_ros.
    assert [p.name for p in find_packages(str(REPO)).values()] == ["valence_ros"]
    listed = subprocess.run(["colcon", "list", "--names-only", "--base-paths", str(REPO)],
                            capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
    assert listed == ["valence_ros"]


def test_fixture_is_not_in_the_valence_ros_install():
    from ament_index_python.packages import get_package_prefix
    prefix = Path(get_package_prefix("valence_ros"))
    assert not list(prefix.rglob("hri_msgs")), "hri_msgs must never be installed with valence_ros"
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert "test/fixtures" not in cmake and "hri_msgs" not in cmake


def test_fixture_says_it_is_a_fixture():
    from catkin_pkg.package import parse_package
    package = parse_package(str(FIXTURE / "package.xml"))
    assert package.name == "hri_msgs" and "TEST FIXTURE" in package.description


def _active_exec_depends(environment: dict[str, str]) -> set[str]:
    from catkin_pkg.package import parse_package
    package = parse_package(str(REPO / "package.xml"))
    package.evaluate_conditions(environment)
    return {d.name for d in package.exec_depends if d.evaluated_condition}


@pytest.mark.parametrize("distro", ["humble", "jazzy", "rolling"])
def test_hri_msgs_is_a_dependency_where_it_is_released(distro):
    assert "hri_msgs" in _active_exec_depends({"ROS_DISTRO": distro, "ROS_VERSION": "2"})


@pytest.mark.parametrize("environment", [{"ROS_DISTRO": "kilted", "ROS_VERSION": "2"}, {}])
def test_hri_msgs_is_no_dependency_where_it_is_not(environment):
    depends = _active_exec_depends(environment)
    assert "hri_msgs" not in depends and "rclpy" in depends
    from catkin_pkg.package import parse_package
    package = parse_package(str(REPO / "package.xml"))
    hri = [d for d in package.exec_depends if d.name == "hri_msgs"]
    assert len(hri) == 1 and hri[0].condition == HRI_CONDITION
    assert all(d.name != "hri_msgs" for d in package.build_depends + package.test_depends)
