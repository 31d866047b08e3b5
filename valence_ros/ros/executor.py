"""How a valence_ros node process runs: executor choice, the spin loop, signals, exit codes.

Executor: rclpy's EventsExecutor driven by spin_once(timeout_sec=0.1) (its spin()
hangs in the Kilted pip wheels); see bench/bench_node_latency.py for the measured
comparison with SingleThreadedExecutor. VALENCE_NODE_EXECUTOR=single selects the
latter.
"""
from __future__ import annotations

import gc
import os
import signal
import sys
from typing import Callable

import rclpy
from rclpy.signals import SignalHandlerOptions

from valence_ros.core.input_files import InputFileError
from valence_ros.core.params_file import check_ros_args_files
from valence_ros.ros.node_parameters import StartupError

EXIT_BAD_CONFIG = 2
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


# Signals received since run_node() started (SIGINT/SIGTERM only record a stop request).
_stop_signals: list[int] = []


def _request_stop(signum, frame) -> None:
    _stop_signals.append(signum)


def spin_until_shutdown(node, executor) -> None:
    """spin_once loop (EventsExecutor.spin() hangs in these wheels); returns on shutdown."""
    from rclpy.executors import ExternalShutdownException
    executor.add_node(node)
    try:
        while rclpy.ok(context=node.context) and not _stop_signals:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def run_node(make_node: Callable[[], object], name: str, args=None) -> int:
    """Run one node until SIGINT/SIGTERM. Exit codes: 0 after a signal (also when it
    comes during startup), 2 for bad configuration (one line on stderr).

    After a signal the context is still up, so a node with a ``before_exit()``
    method gets to publish its last words (valence_node: UNKNOWN for every tracked
    face) before it is destroyed."""
    # A signal only records a stop request: no KeyboardInterrupt can surface in the
    # middle of startup (imports, model load) as a traceback, or be swallowed
    # by library code. rclpy's own handlers are not installed (they would shut the
    # context down at once, before the node could say goodbye); the spin loop
    # checks the recorded requests every 0.1 s.
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    node = None
    executor = None
    try:
        argv = args if args is not None else sys.argv
        try:   # before rcl opens them: a FIFO params file blocks rcl forever
            check_ros_args_files(argv)
        except InputFileError as error:
            print(f"{name}: cannot start: {error}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        try:
            rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
        except Exception as error:  # e.g. a params file that does not parse
            print(f"{name}: cannot start: {' '.join(str(error).split())}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        try:
            node = make_node()
            executor = make_executor()
        except StartupError as error:
            if _stop_signals:
                return 0
            print(f"{name}: {error}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        # Startup leaves ~35k objects (~180k when a model_path file imported
        # torch) that a full garbage collection would traverse (up to ~100 ms,
        # a stall on the live path): move them out of the collector's reach once.
        gc.collect()
        gc.freeze()
        spin_until_shutdown(node, executor)
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
    return 0
