"""launch/valence.launch.py: its contract, and (where launch_ros exists) a real run,
plain (managed:=false) and managed (valence_lifecycle_node with lifecycle events).

* The source contract is checked with `ast` everywhere, so the file cannot rot
  where launch_ros is not installed (as on the pip-wheel ROS 2 of `make test`).
* With real `launch`/`launch_ros` importable, the installed launch file is
  loaded and run through `launch.LaunchService` (what `ros2 launch` does): the
  node must come up at /<namespace>/valence_node, started with the installed
  params file, with that file's parameter values in effect. Without launch_ros
  these tests skip and say why; there is never a fake launch.
* The node is also run here with exactly the command line launch_ros builds for
  this launch file (namespace included), so the namespace/params-file
  interplay is tested on every machine.
"""
from __future__ import annotations

import ast
import importlib.util
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILE = REPO / "launch" / "valence.launch.py"
PKG = "valence_ros"
STARTUP_TIMEOUT = float(os.environ.get("VALENCE_TEST_WAIT_TIMEOUT", "30"))


# --- helpers -------------------------------------------------------------------

def _installed_share() -> Path:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    try:
        return Path(get_package_share_directory(PKG))
    except PackageNotFoundError:
        pytest.fail("valence_ros is not in AMENT_PREFIX_PATH: build it and source "
                    "install/<distro>/setup.bash (`make test` does both)")


def _installed_node() -> Path:
    from ament_index_python.packages import get_package_prefix
    return Path(get_package_prefix(PKG)) / "lib" / PKG / "valence_node"


def _require_node_module() -> None:
    if importlib.util.find_spec("valence_ros.ros.node") is None:
        pytest.skip("valence_ros.ros.node is not in the install space yet")


def _yaml_parameters(params_file: Path, node_name: str = "valence_node") -> dict:
    """Flattened ros__parameters of every section of the file that applies to the node."""
    import yaml
    data = yaml.safe_load(params_file.read_text()) or {}
    params: dict = {}

    def flatten(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                flatten(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            params[prefix] = value

    for key, section in data.items():
        last = key.rstrip("/").rsplit("/", 1)[-1]
        if last in ("**", "*", node_name) and isinstance(section, dict):
            flatten("", section.get("ros__parameters", {}))
    return params


def _same_value(expected, actual) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, (list, tuple)):
        return (isinstance(actual, (list, tuple)) and len(expected) == len(actual)
                and all(_same_value(e, a) for e, a in zip(expected, actual)))
    return expected == actual


class _Probe:
    """A private rclpy context + node to look at the ROS graph and call services."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f"launch_test_probe_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def wait_for_node(self, namespace: str, name: str, timeout: float, alive=None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (name, namespace) in self.node.get_node_names_and_namespaces():
                return
            if alive is not None and not alive():
                raise AssertionError(f"process exited before {namespace}/{name} appeared")
            self.executor.spin_once(timeout_sec=0.1)
        seen = self.node.get_node_names_and_namespaces()
        raise AssertionError(f"node {namespace}/{name} did not appear in {timeout} s; "
                             f"graph: {seen}")

    def get_parameters(self, fqn: str, names: list[str], timeout: float = 20.0) -> list:
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python
        client = self.node.create_client(GetParameters, f"{fqn}/get_parameters")
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"no {fqn}/get_parameters"
            future = client.call_async(GetParameters.Request(names=names))
            self.executor.spin_until_future_complete(future, timeout_sec=timeout)
            assert future.done(), "get_parameters timed out"
            return [parameter_value_to_python(v) for v in future.result().values]
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def _assert_params_in_effect(probe: _Probe, fqn: str, params_file: Path) -> None:
    expected = _yaml_parameters(params_file)
    assert expected, f"{params_file} has no ros__parameters for valence_node"
    names = sorted(expected)
    actual = dict(zip(names, probe.get_parameters(fqn, names)))
    wrong = {n: (expected[n], actual[n]) for n in names if not _same_value(expected[n], actual[n])}
    assert not wrong, (
        f"parameters of {fqn} differ from {params_file.name} (expected, actual): {wrong}. "
        "A None value means the file's section did not apply to the node (under a "
        "namespace, key the file with '/**/valence_node:' or '/**:')")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode() for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


# --- 1. source contract (always runs) ------------------------------------------

def _launch_ast():
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def _calls(tree, name: str) -> list[ast.Call]:
    def called(node):
        f = node.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and called(n) == name]


def _kw(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _const(node):
    return node.value if isinstance(node, ast.Constant) else None


def test_launch_file_source_contract():
    tree = _launch_ast()
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in funcs

    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for alias in n.names}
    assert {"Node", "LifecycleNode", "LaunchDescription", "DeclareLaunchArgument",
            "LaunchConfiguration", "get_package_share_directory", "OnStateTransition",
            "ChangeState", "EmitEvent", "RegisterEventHandler", "Transition"} <= imported

    # one plain Node (valence_node) and one LifecycleNode (valence_lifecycle_node),
    # both with the keywords of one shared dict(...): name, package, namespace, parameters
    # (the second Node call is valence_fer_node's: test_launch_file_starts_the_fer_node_on_request)
    [node] = [c for c in _calls(tree, "Node") if _const(_kw(c, "executable")) != "valence_fer_node"]
    [lifecycle] = _calls(tree, "LifecycleNode")
    assert _const(_kw(node, "executable")) == "valence_node"
    assert _const(_kw(lifecycle, "executable")) == "valence_lifecycle_node"
    common = [c for c in _calls(tree, "dict") if _kw(c, "package") is not None]
    assert len(common) == 1, "one dict(...) of the keywords both node actions share"
    common = common[0]
    assert _const(_kw(common, "package")) == "valence_ros"
    assert _const(_kw(common, "name")) == "valence_node"

    # namespace and parameters come from the launch arguments
    def config_name(expr):
        calls = _calls(expr, "LaunchConfiguration") if expr is not None else []
        return _const(calls[0].args[0]) if calls and calls[0].args else None
    assert config_name(_kw(common, "namespace")) == "namespace"
    params = _kw(common, "parameters")
    assert isinstance(params, ast.List) and config_name(params.elts[0]) == "params_file"
    assert len(params.elts) == 1 or isinstance(params.elts[1], ast.Starred)  # + given overrides

    declared = {_const(c.args[0]): c for c in _calls(tree, "DeclareLaunchArgument") if c.args}
    assert {"namespace", "params_file", "managed", "autostart", "hri_expression",
            "hri_tracked_faces_topic"} <= set(declared)
    assert _const(_kw(declared["namespace"], "default_value")) == ""
    assert _const(_kw(declared["managed"], "default_value")) == "false"
    assert _const(_kw(declared["autostart"], "default_value")) == "true"

    # autostart: configure, then activate once configuring ended in inactive
    transitions = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                   and n.attr.startswith("TRANSITION_")}
    assert transitions == {"TRANSITION_CONFIGURE", "TRANSITION_ACTIVATE"}
    [handler] = _calls(tree, "OnStateTransition")
    assert _const(_kw(handler, "start_state")) == "configuring"
    assert _const(_kw(handler, "goal_state")) == "inactive"

    # the params_file default is the installed share/valence_ros/config/valence.yaml
    share_calls = _calls(tree, "get_package_share_directory")
    assert share_calls and _const(share_calls[0].args[0]) == "valence_ros"
    strings = {_const(n) for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert {"config", "valence.yaml"} <= strings or "config/valence.yaml" in strings
    default = _kw(declared["params_file"], "default_value")
    assert default is not None and not isinstance(default, ast.Constant), \
        "params_file must default to the installed file, not a literal path"


def test_launch_file_starts_the_fer_node_on_request():
    """fer:=image|video|ros4hri adds valence_fer_node (default none), with the same params
    file, input_mode = the argument, and its output remapped to the valence node's input."""
    tree = _launch_ast()
    [fer] = [c for c in _calls(tree, "Node") if _const(_kw(c, "executable")) == "valence_fer_node"]
    assert _const(_kw(fer, "package")) == "valence_ros"
    assert _const(_kw(fer, "name")) == "valence_fer_node"
    params = _kw(fer, "parameters")
    assert isinstance(params, ast.List) and len(params.elts) == 2
    [params_file] = _calls(params.elts[0], "LaunchConfiguration")
    assert _const(params_file.args[0]) == "params_file"
    [remap] = _kw(fer, "remappings").elts
    assert _const(remap.elts[0]) == "emotion_probabilities"
    assert _const(_calls(remap.elts[1], "LaunchConfiguration")[0].args[0]) == "input_topic"
    declared = {_const(c.args[0]): c for c in _calls(tree, "DeclareLaunchArgument") if c.args}
    assert _const(_kw(declared["fer"], "default_value")) == "none"
    assert [_const(e) for e in _kw(declared["fer"], "choices").elts] == \
        ["none", "image", "video", "ros4hri"]
    assert _const(_kw(declared["video_source"], "default_value")) == ""
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_fer_node")
    strings = {_const(n) for n in ast.walk(function)}
    assert {"input_mode", "video_source", "none"} <= strings
    # video_source:=0 must reach the node as the string "0" (launch would make it an int)
    assert _calls(function, "ParameterValue")


def test_launch_file_parses_and_config_exists():
    compile(LAUNCH_FILE.read_text(), str(LAUNCH_FILE), "exec")
    assert (REPO / "config" / "valence.yaml").is_file()


# --- 2. the node as launch_ros starts it (always runs) ---------------------------

@pytest.mark.ros
@pytest.mark.parametrize("namespace", ["", "launch_test_ns"])
def test_node_runs_with_launch_command_line(namespace, tmp_path):
    """Run the installed node with the argv launch_ros builds for this launch
    file; it must come up under the namespace with the params file in effect."""
    _require_node_module()
    share = _installed_share()
    params_file = share / "config" / "valence.yaml"
    exe = _installed_node()
    assert exe.is_file()
    ros_args = ["--ros-args", "-r", "__node:=valence_node"]
    if namespace:
        ros_args += ["-r", f"__ns:=/{namespace}"]
    ros_args += ["--params-file", str(params_file),
                 "-r", "emotion_probabilities:=emotion_probabilities"]
    log = tmp_path / "node.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), *ros_args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    probe = _Probe()
    try:
        ns = f"/{namespace}" if namespace else "/"
        probe.wait_for_node(ns, "valence_node", STARTUP_TIMEOUT, alive=lambda: proc.poll() is None)
        _assert_params_in_effect(probe, f"/{namespace}/valence_node" if namespace
                                 else "/valence_node", params_file)
        topics = dict(probe.node.get_topic_names_and_types())
        prefix = f"/{namespace}" if namespace else ""
        for topic in ("emotion_probabilities", "valence", "valence_state"):
            deadline = time.monotonic() + 10
            while f"{prefix}/{topic}" not in topics and time.monotonic() < deadline:
                probe.executor.spin_once(timeout_sec=0.1)
                topics = dict(probe.node.get_topic_names_and_types())
            assert f"{prefix}/{topic}" in topics, f"{prefix}/{topic} missing: {sorted(topics)}"
    finally:
        probe.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what launch sends on shutdown
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                pytest.fail("valence_node ignored SIGINT for 15 s:\n" + log.read_text()[-3000:])
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


# --- 3. the real launch file through launch.LaunchService -----------------------

def _require_launch_ros() -> None:
    for module in ("launch", "launch_ros"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"'{module}' is not importable here (ROS 2 from pip wheels has no "
                        "launch/launch_ros); this test runs in a full ROS 2 install")


_RUNNER = textwrap.dedent("""
    import sys
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    path, *pairs = sys.argv[1:]
    arguments = [tuple(p.split(':=', 1)) for p in pairs]
    service = LaunchService()
    service.include_launch_description(LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                 launch_arguments=arguments)]))
    sys.exit(service.run() or 0)
""")


def test_launch_description_loads_with_launch_ros():
    _require_launch_ros()
    from launch.actions import DeclareLaunchArgument
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    from launch_ros.actions import Node

    installed = _installed_share() / "launch" / "valence.launch.py"
    assert installed.read_bytes() == LAUNCH_FILE.read_bytes(), "installed launch file is stale"
    description = get_launch_description_from_python_launch_file(str(installed))
    declared = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert {"namespace", "params_file", "managed", "autostart"} <= declared

    # What the OpaqueFunction makes of the arguments (as `ros2 launch` would).
    import runpy

    from launch import LaunchContext
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch_ros.actions import LifecycleNode
    module = runpy.run_path(str(installed))

    def entities(**arguments):
        context = LaunchContext()
        for entity in description.entities:
            if isinstance(entity, DeclareLaunchArgument):
                context.launch_configurations[entity.name] = arguments.get(
                    entity.name, "".join(s.perform(context) for s in entity.default_value))
        return module["_valence_node"](context)

    [plain] = entities()
    assert type(plain) is Node
    managed = entities(managed="true")
    assert [type(e) for e in managed] == [RegisterEventHandler, LifecycleNode, EmitEvent]
    [manual] = entities(managed="true", autostart="false")
    assert type(manual) is LifecycleNode
    with pytest.raises(RuntimeError, match="hri_expression"):
        entities(hri_expression="yes")

    def fer_entities(**arguments):
        context = LaunchContext()
        for entity in description.entities:
            if isinstance(entity, DeclareLaunchArgument):
                context.launch_configurations[entity.name] = arguments.get(
                    entity.name, "".join(s.perform(context) for s in entity.default_value))
        return module["_fer_node"](context)

    assert fer_entities() == []
    [fer] = fer_entities(fer="video", video_source="0")
    assert type(fer) is Node


@pytest.mark.ros
@pytest.mark.parametrize("namespace", ["", "launch_test_ns"])
def test_launch_file_runs_node_with_installed_params(namespace, tmp_path):
    _require_launch_ros()
    _require_node_module()
    share = _installed_share()
    launch_file = share / "launch" / "valence.launch.py"
    params_file = share / "config" / "valence.yaml"
    runner = tmp_path / "run_launch.py"
    runner.write_text(_RUNNER)
    log = tmp_path / "launch.log"
    args = [sys.executable, str(runner), str(launch_file)]
    if namespace:
        args.append(f"namespace:={namespace}")
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    probe = _Probe()
    node_pid = None
    try:
        ns = f"/{namespace}" if namespace else "/"
        probe.wait_for_node(ns, "valence_node", STARTUP_TIMEOUT,
                            alive=lambda: proc.poll() is None)
        # The node process launch started: the installed executable with the
        # installed params file.
        for pid in _descendants(proc.pid):
            argv = _cmdline(pid)
            if any(Path(a).name == "valence_node" for a in argv):
                node_pid = pid
                break
        assert node_pid is not None, "no valence_node process under the launch process"
        argv = _cmdline(node_pid)
        assert "--params-file" in argv, argv
        given = Path(argv[argv.index("--params-file") + 1])
        assert (given.resolve() == params_file.resolve()
                or given.read_bytes() == params_file.read_bytes()), argv
        if namespace:
            assert f"__ns:=/{namespace}" in argv, argv
        _assert_params_in_effect(probe, f"/{namespace}/valence_node" if namespace
                                 else "/valence_node", params_file)
    finally:
        probe.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C on `ros2 launch`
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
                pytest.fail("launch did not stop on SIGINT:\n" + log.read_text()[-3000:])
    if node_pid is not None:
        assert not Path(f"/proc/{node_pid}").exists() or \
            "zombie" in Path(f"/proc/{node_pid}/status").read_text(), \
            "valence_node left running after launch stopped"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.mark.ros
@pytest.mark.parametrize("arguments, state", [
    (["managed:=true", "hri_expression:=true"], "active"),
    (["managed:=true", "autostart:=false"], "unconfigured"),
])
def test_launch_file_runs_the_managed_node(arguments, state, tmp_path):
    """managed:=true: valence_lifecycle_node under launch_ros, configured and activated
    by the launch file's lifecycle events unless autostart:=false."""
    _require_launch_ros()
    _require_node_module()
    if "hri_expression:=true" in arguments and importlib.util.find_spec("hri_msgs") is None:
        pytest.skip("hri_msgs is not importable here")
    from lifecycle_msgs.srv import GetState
    runner = tmp_path / "run_launch.py"
    runner.write_text(_RUNNER)
    log = tmp_path / "launch.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(runner), str(_installed_share() / "launch" / "valence.launch.py"),
             *arguments], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    probe = _Probe()
    try:
        probe.wait_for_node("/", "valence_node", STARTUP_TIMEOUT, alive=lambda: proc.poll() is None)
        client = probe.node.create_client(GetState, "/valence_node/get_state")
        assert client.wait_for_service(timeout_sec=STARTUP_TIMEOUT)
        label, deadline = None, time.monotonic() + STARTUP_TIMEOUT
        while label != state and time.monotonic() < deadline:
            future = client.call_async(GetState.Request())
            probe.executor.spin_until_future_complete(future, timeout_sec=5)
            label = future.result().current_state.label if future.done() else None
            time.sleep(0.2)
        assert label == state, log.read_text()[-3000:]
        if "hri_expression:=true" in arguments:
            assert probe.get_parameters("/valence_node", ["hri_expression"]) == [True]
    finally:
        probe.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
                pytest.fail("launch did not stop on SIGINT:\n" + log.read_text()[-3000:])
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
