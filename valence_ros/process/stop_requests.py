"""Stop requests: SIGINT and SIGTERM recorded, never raised, polled by a loop.

The one signal-handling mechanism of the programs whose loops poll (every 0.1 s or
faster) and that must end with exit 0 and no traceback whenever the signal comes:

  * the node executables (valence_ros.ros.*): the executable's wrapper (generated
    from cmake/executable.py) calls install_early() before its imports, so a signal
    during them (~0.3 s) or during startup is a stop request too; the executor's spin
    loop polls REQUESTS, and teardown ignores further signals (ignore_from_now()).
    A node must publish its last words (UNKNOWN for every face) before it exits, so
    a signal must not unwind it in the middle of a callback.
  * the demo programs (valence_demo, valence_faces_demo, valence_demo_publisher,
    valence_bt_demo): install() at the start of main(); their loops poll REQUESTS
    and stop their child processes in order.

Where the offline tools differ, and why (valence_ros.offline keeps its own):
  * valence_analyze (offline/run_context.py) raises from its handlers
    (KeyboardInterrupt, Terminated): its long computations have no loop polling
    every 0.1 s, so a stop must interrupt them at once; it exits 130/143, not 0
    (the run did not finish), and it records the request as well because CPython
    can drop an exception raised by a handler during an import; its final rename is
    done with the signals held back, so an output is either complete or absent.
  * the study pool's workers (offline/study_pool.py) ignore SIGINT: a terminal's
    Ctrl-C reaches the whole process group, and only the parent decides how the
    study stops (it stops its workers itself).
"""
from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Executables whose wrapper records stop requests from its first line on: the nodes.
EARLY_STOP_MODULES = "valence_ros.ros."


class StopRequests:
    """Stop requests since the process started: the signal numbers (0: request())."""

    def __init__(self) -> None:
        self._requests: list[int] = []

    def install(self) -> StopRequests:
        """From now on SIGINT and SIGTERM only record a stop request (idempotent)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._record)
        return self

    def _record(self, signum: int, frame: object) -> None:
        self._requests.append(signum)

    def request(self) -> None:
        """Stop as SIGTERM would, from any thread (a node that finished its work)."""
        self._requests.append(0)

    @property
    def signum(self) -> int | None:
        """The latest signal received (0 for request()), or None without a request."""
        return self._requests[-1] if self._requests else None

    def __bool__(self) -> bool:
        return bool(self._requests)


# The process's one set of stop requests (signal handlers are per process).
REQUESTS = StopRequests()


def install() -> StopRequests:
    """REQUESTS, with SIGINT/SIGTERM recording into it from now on."""
    return REQUESTS.install()


def install_early(module: str) -> None:
    """Called by an executable's wrapper before it imports `module`: a node's
    (valence_ros.ros.*) stop requests are recorded from here on. Other executables
    keep Python's defaults until their main() installs what they need."""
    if module.startswith(EARLY_STOP_MODULES):
        install()


def ignore_from_now() -> None:
    """SIGINT/SIGTERM ignored from here on (a node's teardown). A Python handler would
    not do: interpreter finalisation resets Python-level handlers to SIG_DFL while
    Fast DDS is still tearing down (~100 ms), so the second Ctrl-C of `ros2 launch`
    killed the process (exit -2). SIG_IGN survives finalisation. Launch still ends a
    hung teardown with SIGKILL after its timeout."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
