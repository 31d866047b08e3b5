"""`ros2 param load` as documented in docs/lifecycle-and-tooling.md (issue 22 item 13).

ros2cli is not installable here; `ros2 param load NODE FILE` is two rclpy calls, made
here exactly as ros2param (0.32 Jazzy, 0.36 Kilted) makes them:
AsyncParameterClient(node, NODE).load_parameter_file(FILE, use_wildcard=True) (the
SetParameters request), then parameter_dict_from_yaml_file(FILE, True) (the names it
pairs with the results; it asserts both have the same length).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers.install import REPO
from helpers.processes import WAIT_TIMEOUT

pytestmark = pytest.mark.ros

DOC = REPO / "docs" / "lifecycle-and-tooling.md"
CONFIG = REPO / "config" / "valence.yaml"


def documented_load_file(tmp_path: Path) -> Path:
    """The yaml block of the doc's `ros2 param load` section, written to a file."""
    text = DOC.read_text()
    section = text[text.index("## `--params-file` and `ros2 param load`"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "valence_runtime.yaml"
    path.write_text(block)
    return path


def ros2_param_load(client, node_fqn: str, path: Path) -> list[tuple[str, bool, str]]:
    """(name, successful, reason) per parameter, as `ros2 param load` prints them."""
    from rclpy.parameter import parameter_dict_from_yaml_file
    from rclpy.parameter_client import AsyncParameterClient
    with client._lock:
        before = set(client.node.clients)
        parameters = AsyncParameterClient(client.node, node_fqn)
    try:
        assert parameters.wait_for_services(timeout_sec=WAIT_TIMEOUT)
        future = parameters.load_parameter_file(str(path), use_wildcard=True)
        names = [p.name for p in parameter_dict_from_yaml_file(str(path), True).values()]
        client.wait_for(future.done, WAIT_TIMEOUT, "the load_parameter_file response")
        results = future.result().results
        assert len(results) == len(names), "ros2param's own check ('Not all parameters set')"
        return [(name, r.successful, r.reason) for name, r in zip(names, results)]
    finally:
        with client._lock:  # AsyncParameterClient has no destroy(): its clients are new
            for service_client in set(client.node.clients) - before:
                client.node.destroy_client(service_client)


def test_the_documented_file_loads_into_the_running_node(ros_client, node_process, tmp_path):
    path = documented_load_file(tmp_path)
    wanted = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    process = node_process(namespace="/robot1")
    results = ros2_param_load(ros_client, process.fqn, path)
    assert [name for name, _, _ in results] == list(wanted)
    assert all(ok for _, ok, _ in results), results
    assert ros_client.get_parameters(process.fqn, list(wanted)) == list(wanted.values())


def test_the_shipped_startup_file_is_not_for_ros2_param_load():
    """Its key /**/valence_node (rcl's wildcard: any namespace, this node only) is matched
    by neither distro's rclpy loader for the node (Kilted: only /** or the exact name;
    Jazzy: the exact name): the documented reason to write a /** file instead."""
    from rclpy.parameter import parameter_dict_from_yaml_file
    keys = list(yaml.safe_load(CONFIG.read_text()))  # other nodes' sections may follow (FER)
    assert "/**/valence_node" in keys and "/**" not in keys and "/valence_node" not in keys
    with pytest.raises(RuntimeError):
        parameter_dict_from_yaml_file(str(CONFIG), True, target_nodes=["/valence_node"])
