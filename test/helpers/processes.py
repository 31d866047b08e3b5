"""The installed valence_node (or valence_lifecycle_node) as a subprocess, started
exactly as `ros2 launch` would:

    <install>/lib/valence_ros/valence_node --ros-args --params-file <yaml> [-r ...] [-p ...]

and stopped on teardown (SIGINT, then SIGKILL after a timeout).
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

from helpers.install import installed_share_dir, require_install

WAIT_TIMEOUT = float(os.environ.get("VALENCE_TEST_WAIT_TIMEOUT", "30"))  # generous: CPU may be busy


def _param_arg(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_param_arg(v) for v in value) + "]"
    if isinstance(value, str):
        return "''" if value == "" else value
    return repr(value)


class NodeProcess:
    """The installed valence_node running as a subprocess."""

    def __init__(self, args: list[str], env: dict[str, str], namespace: str = "/",
                 node_name: str = "valence_node"):
        self.args = args
        self.namespace = namespace.rstrip("/") or ""
        self.node_name = node_name
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self._stdout_file = tempfile.TemporaryFile(mode="w+b")
        self.popen = subprocess.Popen(args, env=env, stdout=self._stdout_file,
                                      stderr=self._stderr_file, start_new_session=True)

    @property
    def fqn(self) -> str:
        return f"{self.namespace}/{self.node_name}"

    def topic(self, name: str) -> str:
        return name if name.startswith("/") else f"{self.namespace}/{name}"

    @property
    def diagnostics_name(self) -> str:
        return f"{self.fqn.lstrip('/')}: valence"

    def running(self) -> bool:
        return self.popen.poll() is None

    def _read(self, handle) -> str:
        handle.flush()
        handle.seek(0)
        return handle.read().decode(errors="replace")

    def stderr(self) -> str:
        return self._read(self._stderr_file)

    def stdout(self) -> str:
        return self._read(self._stdout_file)

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def wait_exit(self, timeout: float = WAIT_TIMEOUT) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int:
        """Send `sig`; SIGKILL if it has not exited after `timeout`. Returns the exit code."""
        if self.running():
            try:
                self.popen.send_signal(sig)
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        return self.popen.returncode

    def close(self) -> None:
        self.stop()
        self._stderr_file.close()
        self._stdout_file.close()


def start_node(params: dict[str, Any] | None = None, *, params_file: Path | str | None = "default",
               remaps: Iterable[str] = (), namespace: str | None = None,
               env: dict[str, str] | None = None, executable: str = "valence_node") -> NodeProcess:
    """Start the installed node like `ros2 launch` would. `params` become `-p` overrides;
    params_file "default" = the installed config/valence.yaml, None = no file;
    executable: valence_node or valence_lifecycle_node (same directory)."""
    exe = require_install().with_name(executable)
    args = [str(exe), "--ros-args"]
    if params_file == "default":
        params_file = installed_share_dir() / "config" / "valence.yaml"
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    for remap in remaps:
        args += ["-r", remap]
    for name, value in (params or {}).items():
        args += ["-p", f"{name}:={_param_arg(value)}"]
    full_env = dict(os.environ)
    full_env.update(env or {})
    return NodeProcess(args, full_env, namespace=namespace or "/")


def node_factory():
    """Yields factory(params, ...) -> NodeProcess; every node it started is stopped after."""
    started: list[NodeProcess] = []

    def factory(params=None, **kwargs) -> NodeProcess:
        process = start_node(params, **kwargs)
        started.append(process)
        return process

    yield factory
    for process in started:
        process.close()

