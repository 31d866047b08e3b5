"""The built ROS 2 package: what colcon installed, and the message contract.

Runs against the sourced install space (``make test`` builds and sources it):
the executables, share/ files, Python modules and weights that `colcon build`
installed, the generated messages' exact fields, and the package metadata.
"""
from __future__ import annotations

import ast
import configparser
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKG = "valence_ros"
PY_DIR = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages/{PKG}"

# executable -> (module, function): installed to lib/valence_ros/ and bin/.
EXECUTABLES = {
    "valence_node": ("valence_ros.ros.node", "main"),
    "valence_analyze": ("valence_ros.offline.analyze", "main"),
    "valence_train": ("valence_ros.model.train", "main"),
    "valence_demo": ("valence_ros.demo.runner", "main"),
    "valence_demo_publisher": ("valence_ros.demo.scripted_face", "main"),
}

# The message contract (issue #3): exact field names and types, in order.
CONTRACT = {
    "EmotionProbabilities": {
        "header": "std_msgs/Header",
        "face_id": "string",
        "labels": "sequence<string>",
        "probabilities": "sequence<float>",
    },
    "Valence": {
        "header": "std_msgs/Header",
        "face_id": "string",
        "valence": "float",
        "raw_valence": "float",
    },
    "ValenceState": {
        "header": "std_msgs/Header",
        "face_id": "string",
        "state": "int8",
        "valence": "float",
    },
}


@pytest.fixture(scope="module")
def prefix() -> Path:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        return Path(get_package_prefix(PKG))
    except PackageNotFoundError:
        pytest.fail("valence_ros is not in AMENT_PREFIX_PATH: build it and source "
                    "install/<distro>/setup.bash (`make test` does both)")


@pytest.fixture(scope="module")
def share(prefix) -> Path:
    return prefix / "share" / PKG


def _same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def _source_files(directory: Path):
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


# --- install layout ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXECUTABLES))
def test_executable_installed(prefix, name):
    module, function = EXECUTABLES[name]
    for exe in (prefix / "lib" / PKG / name, prefix / "bin" / name):
        assert exe.is_file(), f"{exe} not installed"
        assert os.access(exe, os.X_OK), f"{exe} is not executable"
        text = exe.read_text()
        shebang = text.splitlines()[0]
        assert shebang.startswith("#!"), f"{exe}: no shebang"
        interpreter = shebang[2:].strip().split()[0]
        assert os.access(interpreter, os.X_OK), f"{exe}: interpreter {interpreter} missing"
        assert f"from {module} import {function}" in text, text
    # The entry point exists: the module defines a top-level main().
    source = REPO / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{source.relative_to(REPO)} (entry point of {name}) missing"
    tree = ast.parse(source.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == function for n in tree.body), \
        f"{source.relative_to(REPO)} defines no top-level {function}()"


def test_node_executable_at_documented_path(prefix):
    # ros2 run / launch_ros look exactly here.
    exe = prefix / "lib" / "valence_ros" / "valence_node"
    assert exe.is_file() and os.access(exe, os.X_OK)


def test_share_files_installed(share):
    assert _same_bytes(share / "package.xml", REPO / "package.xml"), \
        "installed package.xml differs from the source: rebuild (make setup)"
    for sub in ("launch", "config"):
        sources = list(_source_files(REPO / sub))
        assert sources, f"{sub}/ is empty in the source tree"
        for src in sources:
            dst = share / src.relative_to(REPO)
            assert dst.is_file(), f"{dst} not installed"
            assert _same_bytes(src, dst), f"{dst} is stale: rebuild (make setup)"
    assert (share / "launch" / "valence.launch.py").is_file()
    assert (share / "config" / "valence.yaml").is_file()
    for msg in CONTRACT:
        assert (share / "msg" / f"{msg}.msg").is_file()


def test_python_modules_installed_and_current(prefix):
    installed = prefix / PY_DIR
    assert installed.is_dir(), f"{installed} missing"
    stale = []
    for src in _source_files(REPO / PKG):
        dst = installed / src.relative_to(REPO / PKG)
        if not dst.is_file() or not _same_bytes(src, dst):
            stale.append(str(src.relative_to(REPO)))
    assert not stale, f"not installed or stale (rebuild with make setup): {stale}"


def test_weights_installed_next_to_modules(prefix):
    weights = REPO / PKG / "model" / "weights"
    files = [p for p in _source_files(weights)] if weights.is_dir() else []
    assert files, "valence_ros/model/weights/ has no shipped weights"
    for src in files:
        dst = prefix / PY_DIR / src.relative_to(REPO / PKG)
        assert dst.is_file(), f"weights file {dst} not installed"
        assert _same_bytes(src, dst)


def test_import_resolves_to_install_space(prefix):
    import valence_ros
    import valence_ros.msg
    here = Path(valence_ros.__file__).resolve()
    assert here.is_relative_to(prefix.resolve()), (
        f"valence_ros imported from {here}, not from the install space {prefix}: "
        "the source tree shadows it (is the repository root on sys.path?)")
    assert Path(valence_ros.msg.__file__).resolve().is_relative_to(prefix.resolve())


# --- messages ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_message_fields_are_the_contract(name):
    import valence_ros.msg as msgs
    cls = getattr(msgs, name)
    fields = cls.get_fields_and_field_types()
    assert fields == CONTRACT[name]
    assert list(fields) == list(CONTRACT[name]), "field order changed"


def test_valence_state_constants():
    from valence_ros.msg import ValenceState
    assert (ValenceState.NEGATIVE, ValenceState.NEUTRAL, ValenceState.POSITIVE) == (-1, 0, 1)


def test_messages_serialize_round_trip():
    from rclpy.serialization import deserialize_message, serialize_message

    from valence_ros.msg import EmotionProbabilities, Valence, ValenceState

    m = EmotionProbabilities()
    m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id = 12, 345, "cam"
    m.face_id = "face-1"
    m.labels = ["neutral", "happy"]
    m.probabilities = [0.25, 0.75]
    back = deserialize_message(serialize_message(m), EmotionProbabilities)
    assert back == m
    v = Valence(face_id="f", valence=-0.5, raw_valence=1.0)
    assert deserialize_message(serialize_message(v), Valence) == v
    s = ValenceState(face_id="f", state=ValenceState.NEGATIVE, valence=-0.75)
    assert deserialize_message(serialize_message(s), ValenceState) == s


def test_messages_travel_between_two_nodes():
    """Generated type support works over DDS (two nodes, one private context)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from valence_ros.msg import EmotionProbabilities, Valence

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        sender = rclpy.create_node("layout_test_sender", context=context)
        receiver = rclpy.create_node("layout_test_receiver", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(sender)
        executor.add_node(receiver)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        got: dict[str, object] = {}
        receiver.create_subscription(EmotionProbabilities, "layout_test_probs",
                                     lambda m: got.setdefault("p", m), qos)
        receiver.create_subscription(Valence, "layout_test_valence",
                                     lambda m: got.setdefault("v", m), qos)
        pub_p = sender.create_publisher(EmotionProbabilities, "layout_test_probs", qos)
        pub_v = sender.create_publisher(Valence, "layout_test_valence", qos)
        probs = EmotionProbabilities(face_id="a", labels=["happy"], probabilities=[1.0])
        val = Valence(face_id="a", valence=0.5, raw_valence=0.25)
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            if "p" not in got:
                pub_p.publish(probs)
            if "v" not in got:
                pub_v.publish(val)
            executor.spin_once(timeout_sec=0.1)
        assert got.get("p") == probs
        assert got.get("v") == val
        executor.shutdown()
    finally:
        rclpy.shutdown(context=context)


# --- metadata ------------------------------------------------------------------

def test_package_xml_is_valid_format3_ament_cmake():
    from catkin_pkg.package import parse_package
    warnings: list[str] = []
    pkg = parse_package(str(REPO / "package.xml"), warnings=warnings)  # validates
    assert not warnings, warnings
    assert pkg.name == PKG
    assert pkg.package_format == 3
    assert pkg.get_build_type() == "ament_cmake"
    names = lambda deps: {d.name for d in deps}  # noqa: E731
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= \
        names(pkg.buildtool_depends)
    assert "std_msgs" in names(pkg.build_depends) & names(pkg.exec_depends)
    assert {"rclpy", "std_msgs", "diagnostic_msgs", "rosgraph_msgs", "launch_ros",
            "ament_index_python", "rosidl_default_runtime", "python3-numpy"} <= \
        names(pkg.exec_depends)
    assert "python3-pytest" in names(pkg.test_depends)
    assert "rosidl_interface_packages" in {g.name for g in pkg.member_of_groups}
    assert all(re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", m.email) for m in pkg.maintainers)


def _requirements(name: str = "requirements.txt") -> dict[str, str]:
    reqs = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line == "-r requirements.txt":
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        assert m, f"{name}: {line!r} is not pinned with =="
        key = m.group(1).lower().replace("_", "-")
        assert key not in reqs, f"{name}: {key} is listed twice"     # py_trees once was
        reqs[key] = m.group(3)
    return reqs


def test_requirements_pinned_including_pip_only_deps():
    reqs = _requirements()
    assert reqs.get("torch") == "2.13.0", "torch must stay pinned to 2.13.0"
    # No rosdep key exists for these (see package.xml): pip provides them.
    for name in ("safetensors", "rosbags", "numpy", "matplotlib", "tqdm", "threadpoolctl", "pyarrow"):
        assert name in reqs, f"{name} missing from requirements.txt"
    # The ROS wheels live in one file per distro, each on top of the common pins.
    for distro, rclpy_major in (("jazzy", "7"), ("kilted", "9")):
        name = f"requirements-{distro}.txt"
        assert "-r requirements.txt" in (REPO / name).read_text().splitlines(), name
        ros = _requirements(name)
        assert ros["ros-rclpy"].split(".")[0] == rclpy_major, name
        assert not set(ros) & set(reqs), f"{name} repeats common pins: {set(ros) & set(reqs)}"
        assert all(pkg.startswith("ros-") for pkg in ros), name


def test_setup_cfg_matches_package():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    from catkin_pkg.package import parse_package
    pkg = parse_package(str(REPO / "package.xml"))
    assert cfg["metadata"]["name"] == PKG
    assert cfg["metadata"]["version"] == pkg.version
    requires = [r.strip() for r in cfg["options"]["install_requires"].splitlines()
                if r.strip() and not r.strip().startswith("#")]
    torch_extra = [r.strip() for r in cfg["options.extras_require"]["torch"].splitlines() if r.strip()]
    assert torch_extra == ["torch==2.13.0"]      # pinned: anything else pulls a CUDA build
    # pip install . runs without torch (the [torch] extra), and every runtime requirement
    # is satisfied by the version requirements.txt pins (the ROS venv is such an install)
    from packaging.requirements import Requirement
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            pin = Requirement(line.split("#")[0].strip())
            pins[pin.name.lower().replace("_", "-")] = next(iter(pin.specifier)).version
    for text in requires:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name != "torch", "torch is the [torch] extra, not a requirement of pip install ."
        assert name in pins, f"{name}: not pinned in requirements.txt"
        assert requirement.specifier.contains(pins[name]), (text, pins[name])
    scripts = cfg["options.entry_points"]["console_scripts"]
    for name in ("valence_train", "valence_analyze"):
        module, function = EXECUTABLES[name]
        assert re.search(rf"^\s*{name}\s*=\s*{re.escape(module)}:{function}\s*$", scripts, re.M)
    # The node needs the generated valence_ros.msg, which only the ROS build provides.
    assert "valence_node" not in scripts
    assert "weights/*" in cfg["options.package_data"]["valence_ros.model"]


def test_colcon_builds_it_as_ament_cmake_despite_setup_py():
    colcon = shutil.which("colcon")
    if colcon is None:
        pytest.skip("colcon not on PATH")
    out = subprocess.run([colcon, "list", "--paths", str(REPO)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert re.search(r"^valence_ros\s+\S+\s+\(ros\.ament_cmake\)\s*$", out, re.M), out


def test_modules_stay_small_or_say_why():
    """The layout reads as the architecture only while modules stay one job each:
    a module over 400 lines must say why in its docstring ("Over 400 lines: ...")."""
    import ast
    too_long = []
    for path in sorted((REPO / PKG).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= 400:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "Over 400 lines:" not in doc:
            too_long.append(f"{path.relative_to(REPO)} ({text.count(chr(10))} lines)")
    assert not too_long, f"split these modules or state the reason in the docstring: {too_long}"


def test_every_subpackage_says_what_it_is():
    """Each subpackage's __init__ docstring names its job (docs/development.md's layout table points there)."""
    import ast
    for init in sorted((REPO / PKG).glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 5, f"{init.relative_to(REPO)} has no docstring"
