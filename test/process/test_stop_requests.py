"""valence_ros.process.stop_requests: signals become stop requests, never exceptions.

Each case runs in a fresh interpreter (signal handlers are per process, and pytest
has its own), which sends itself the signal and reports what it saw.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest


def _default_signals() -> None:
    # A job started in the background by a non-interactive shell (a CI runner, `cmd &`)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler; the
    # child starts as from a terminal, so the assertions see the module, not the launcher.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, preexec_fn=_default_signals)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_is_recorded_not_raised(sig):
    result = _run(f"""
        import os, signal
        from valence_ros.process import stop_requests
        stop = stop_requests.install()
        assert not stop and stop.signum is None
        os.kill(os.getpid(), {int(sig)})
        print(bool(stop), stop.signum, stop is stop_requests.REQUESTS)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", str(int(sig)), "True"]


def test_request_stops_like_a_signal_with_number_0():
    result = _run("""
        from valence_ros.process.stop_requests import StopRequests
        stop = StopRequests()
        stop.request()
        print(bool(stop), stop.signum)
    """)
    assert result.stdout.split() == ["True", "0"], result.stderr


@pytest.mark.parametrize("module, early", [("valence_ros.ros.node", True),
                                           ("valence_ros.ros.fer_node", True),
                                           ("valence_ros.offline.analyze", False),
                                           ("valence_ros.demo.runner", False)])
def test_install_early_covers_the_nodes_only(module, early):
    result = _run(f"""
        import signal
        from valence_ros.process.stop_requests import install_early
        install_early({module!r})
        print(signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL,
              signal.getsignal(signal.SIGINT) is not signal.default_int_handler)
    """)
    assert result.stdout.split() == [str(early), str(early)], result.stderr


def test_after_ignore_from_now_a_signal_does_nothing():
    result = _run("""
        import os, signal
        from valence_ros.process import stop_requests
        stop = stop_requests.install()
        stop_requests.ignore_from_now()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        print(bool(stop))
    """)
    assert result.returncode == 0 and result.stdout.split() == ["False"], result.stderr


def test_importing_it_loads_nothing_slow():
    """The wrapper imports it before anything else: the package root and
    valence_ros.process must not pull in numpy, the core or ROS."""
    result = _run("""
        import sys
        import valence_ros.process.stop_requests, valence_ros.process.cli_errors
        print(sorted(m for m in sys.modules
                     if m.split(".")[0] in ("numpy", "yaml", "rclpy", "torch")
                     or m.startswith("valence_ros.") and not m.startswith("valence_ros.process")))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
