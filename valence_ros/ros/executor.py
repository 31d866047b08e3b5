"""How a valence_ros node process runs: executor choice, the spin loop, signals, exit codes.

Executor: rclpy's EventsExecutor driven by spin_once(timeout_sec=0.1) (its spin()
hangs in the Kilted pip wheels); see bench/bench_node_latency.py for the measured
comparison with SingleThreadedExecutor. VALENCE_NODE_EXECUTOR=single selects the
latter.

A callback that raises (rclpy's own, e.g. its parameter services on a request with
an unknown parameter type, or ours) never ends the process: spin_until_shutdown
catches what escapes spin_once, counts it (CallbackErrors) and carries on. The
try/except sits around spin_once, not inside each callback, so the per-frame path
pays nothing for it.

Signals (valence_ros.process.stop_requests, the one mechanism the nodes and the demo
share): SIGINT and SIGTERM only record a stop request, from the executable's first
line on (its wrapper calls install_early() before the imports), while spinning
(rclpy installs no handlers), to teardown, where further signals are ignored
(stop_requests.ignore_from_now). Every path ends with exit 0 and no traceback.
"""
from __future__ import annotations

import gc
import os
import sys
from typing import Callable

import rclpy
from rclpy.signals import SignalHandlerOptions
import rclpy.logging

from valence_ros.core.input_files import InputFileError
from valence_ros.core.throttle import WarnThrottle
from valence_ros.core.params_file import check_ros_args_files
from valence_ros.process import stop_requests
from valence_ros.process.cli_errors import EXIT_BAD_INPUT, one_line, print_error
from valence_ros.ros.node_parameters import StartupError

EXIT_BAD_CONFIG = EXIT_BAD_INPUT  # 2, with one line on stderr (process.cli_errors)
EXECUTOR_ENV = "VALENCE_NODE_EXECUTOR"  # "events" (default) or "single"


def make_executor(kind: str | None = None):
    kind = (kind or os.environ.get(EXECUTOR_ENV) or "events").strip().lower()
    if kind == "single":
        from rclpy.executors import SingleThreadedExecutor
        return SingleThreadedExecutor()
    if kind != "events":
        raise StartupError(f"environment {EXECUTOR_ENV} = {kind!r} is invalid; "
                           f"allowed: one of 'events', 'single'")
    from rclpy.experimental import EventsExecutor
    return EventsExecutor()


class CallbackErrors:
    """Exceptions that escaped a callback: counted, logged at most once per `period`
    seconds (with how many were not logged), never fatal."""

    def __init__(self, logger, period: float = 5.0):
        self._logger = logger
        self._throttle = WarnThrottle(period)
        self.count = 0

    def record(self, error: BaseException) -> None:
        self.count += 1
        held = self._throttle.due()
        if held is None:
            return
        more = f", {held} more since the last report" if held else ""
        detail = one_line(error)[:300]
        self._logger.error(
            f"a callback raised {type(error).__name__}: {detail}; the node carries on "
            f"({self.count} so far{more}; diagnostics: callback_errors)")


# The process's stop requests (signals since the wrapper's first line, request_stop()).
_stop_signals = stop_requests.REQUESTS


def request_stop() -> None:
    """Stop the spin loop as SIGTERM would (exit code 0), from any thread: for a node
    that has finished its work (valence_fer_node at the end of a video file)."""
    _stop_signals.request()


def spin_until_shutdown(node, executor, after_first_spin: Callable[[], None] | None = None) -> None:
    """spin_once loop (EventsExecutor.spin() hangs in these wheels); returns on shutdown.
    An exception out of a callback is recorded in node.callback_errors (a
    CallbackErrors, created here if the node has none) and spinning goes on.
    `after_first_spin` runs once, after the first spin_once (a frame waiting at
    startup is answered before it)."""
    from rclpy.executors import ExternalShutdownException
    errors = getattr(node, "callback_errors", None) or CallbackErrors(node.get_logger())
    executor.add_node(node)
    while rclpy.ok(context=node.context) and not _stop_signals:
        try:
            executor.spin_once(timeout_sec=0.1)
            if after_first_spin is not None:
                after_first_spin, first = None, after_first_spin
                first()
        except (KeyboardInterrupt, ExternalShutdownException):
            return
        except Exception as error:  # noqa: BLE001 - any callback's failure, see the docstring
            if _stop_signals or not rclpy.ok(context=node.context):
                return  # rclpy raising because a signal shut it down meanwhile
            errors.record(error)


def _init_rclpy(args) -> None:
    """rclpy.init(args), without rclpy's signal handlers (see run_node), with rcl's
    own logger silenced meanwhile: for a params file
    or argument that does not parse, rcl logs "Failed to parse global arguments"
    before raising; the caller prints the one line that explains it."""
    rclpy.logging.set_logger_level("rcl", rclpy.logging.LoggingSeverity.FATAL)
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    finally:
        rclpy.logging.set_logger_level("rcl", rclpy.logging.LoggingSeverity.UNSET)


def _init_error_line(error: Exception) -> str:
    if type(error).__name__ == "UnknownROSArgsError":  # str(): only the list of arguments
        return f"unknown ROS argument(s) {error}"
    return one_line(error)


def _after_startup(node) -> None:
    """Once the executor has run: the node's own first-spin step (valence_node: its
    "ready" line), then the startup garbage out of the collector's reach."""
    after_first_spin = getattr(node, "after_first_spin", None)
    if after_first_spin is not None:
        after_first_spin()
    # Startup leaves ~35k objects (~180k when a model_path file imported torch) that
    # a full garbage collection would traverse (up to ~100 ms, a stall on the live
    # path): move them out of the collector's reach once.
    gc.collect()
    gc.freeze()


def run_node(make_node: Callable[[], object], name: str, args=None) -> int:
    """Run one node until SIGINT/SIGTERM. Exit codes: 0 after a signal (also when it
    comes during startup or teardown), 2 for bad configuration (one line on stderr).

    After a signal the context is still up, so a node with a ``before_exit()``
    method gets to publish its last words (valence_node: UNKNOWN for every tracked
    face) before it is destroyed."""
    # A signal only records a stop request: no KeyboardInterrupt can surface in the
    # middle of startup (imports, model load) as a traceback, or be swallowed
    # by library code. rclpy's own handlers are not installed (they would shut the
    # context down at once, before the node could say goodbye); the spin loop
    # checks the recorded requests every 0.1 s.
    stop_requests.install()
    node = None
    executor = None
    try:
        argv = args if args is not None else sys.argv
        try:   # before rcl opens them: a FIFO params file blocks rcl forever
            check_ros_args_files(argv)
        except InputFileError as error:
            return print_error(name, str(error), "cannot start")
        try:
            _init_rclpy(argv)
        except Exception as error:  # e.g. a params file that does not parse
            if _stop_signals:
                return 0
            return print_error(name, _init_error_line(error), "cannot start")
        try:
            node = make_node()
            executor = make_executor()
        except StartupError as error:
            if _stop_signals:
                return 0
            return print_error(name, str(error), kind=None)
        spin_until_shutdown(node, executor, lambda: _after_startup(node))
        before_exit = getattr(node, "before_exit", None)
        if before_exit is not None and rclpy.ok(context=node.context):
            before_exit()
    except KeyboardInterrupt:
        pass
    except Exception:
        if not _stop_signals and rclpy.ok():
            raise
        # A signal shut rclpy down while the node was being built: a normal stop.
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        stop_requests.ignore_from_now()
    return 0
