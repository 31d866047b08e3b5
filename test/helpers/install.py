"""The installed package the integration tests run: where valence_node and its share
directory are, valence_ros.msg importable, and the test-only hri_msgs fixture."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_EXE_REL = Path("lib") / "valence_ros" / "valence_node"


def _prefixes() -> list[Path]:
    found = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    found.append(REPO / "install" / "valence_ros")
    found.append(REPO / "install")
    return found


def installed_node_executable() -> Path | None:
    for prefix in _prefixes():
        candidate = prefix / NODE_EXE_REL
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def installed_share_dir() -> Path | None:
    exe = installed_node_executable()
    if exe is None:
        return None
    return exe.parents[2] / "share" / "valence_ros"


def ensure_msg_importable() -> None:
    """`python -m pytest` puts the source tree first on sys.path; its valence_ros
    has no generated `msg` package. Let that package also see the installed one."""
    try:
        import valence_ros.msg  # noqa: F401
        return
    except ImportError:
        pass
    import valence_ros
    for entry in sys.path + os.environ.get("PYTHONPATH", "").split(os.pathsep):
        candidate = Path(entry) / "valence_ros"
        if (candidate / "msg").is_dir() and str(candidate) not in valence_ros.__path__:
            valence_ros.__path__.append(str(candidate))


def require_install() -> Path:
    exe = installed_node_executable()
    if exe is None:
        pytest.fail("valence_node is not built/installed: run `make setup` (or `make test`, "
                    "which builds first) and `source install/<distro>/setup.bash`", pytrace=False)
    ensure_msg_importable()
    try:
        import valence_ros.msg  # noqa: F401
    except ImportError as error:
        pytest.fail(f"cannot import valence_ros.msg ({error}): `source install/<distro>/setup.bash` "
                    f"after `make setup`", pytrace=False)
    return exe


# --------------------------------------------------------------------------- hri_msgs
# `make test` builds the test-only hri_msgs fixture (test/fixtures/hri_msgs) into its
# own workspace, sources it, and names it in VALENCE_TEST_HRI_PREFIX. Elsewhere the
# ROS4HRI tests use an installed hri_msgs (a ROS4HRI robot) or skip and say why.
HRI_PREFIX_ENV = "VALENCE_TEST_HRI_PREFIX"


def require_hri_msgs():
    """The hri_msgs.msg module; fails under `make test` if the fixture is missing."""
    try:
        import hri_msgs.msg
        return hri_msgs.msg
    except ImportError as error:
        if os.environ.get(HRI_PREFIX_ENV):
            pytest.fail(f"{HRI_PREFIX_ENV} is set but hri_msgs does not import ({error}): "
                        f"`make test-fixtures` builds it", pytrace=False)
        pytest.skip(f"hri_msgs is not importable ({error}); `make test` builds the "
                    f"test/fixtures/hri_msgs fixture, a ROS4HRI install has the real one")


def env_without_hri_msgs() -> dict[str, str]:
    """os.environ with the hri_msgs fixture's workspace removed from every path list."""
    prefix = os.environ.get(HRI_PREFIX_ENV)
    if not prefix:
        pytest.skip(f"{HRI_PREFIX_ENV} is not set (only `make test` knows where its "
                    f"hri_msgs comes from, so only there can it be taken away)")
    env = dict(os.environ)
    for key in ("PYTHONPATH", "AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "LD_LIBRARY_PATH",
                "COLCON_PREFIX_PATH", "PATH"):
        if key in env:
            env[key] = os.pathsep.join(p for p in env[key].split(os.pathsep)
                                       if p and not p.startswith(prefix))
    return env

