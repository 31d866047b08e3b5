"""`make run`: the valence node, a scripted face and the demo behaviour tree, one line per update.

Starts the installed node exactly as ``launch/valence.launch.py`` does::

    <prefix>/lib/valence_ros/valence_node --ros-args -r __node:=valence_node \\
        --params-file <prefix>/share/valence_ros/config/valence.yaml

then publishes a scripted session (see :mod:`valence_ros.demo.scripted_face`) on
``emotion_probabilities`` and prints ``valence`` messages, with the latest
``valence_state``: every change of state or scene at once, the rest at most
``--lines-per-second`` (default 2; ``--all-updates`` prints every message)::

    t=  4.27s scene=happy      face=''  valence=+0.81 raw=+0.86 state=POSITIVE

``t`` is the frame's capture stamp relative to the start of the script and
``scene`` the expression the script was playing at that stamp.

It also starts ``valence_bt_demo`` (valence_ros.demo.bt_demo, the behaviour tree
a social robot would run on ``valence_state``) and prints each of its reactions
on ``robot_reaction`` between the valence lines::

    t=  5.81s >>> robot reaction: smile

so the whole loop is on screen: FER -> valence -> state -> tree -> reaction.
``--no-tree`` leaves the tree out.

Ctrl-C (SIGINT) or SIGTERM stops everything: the node is sent SIGINT (as
``ros2 launch`` does), waited for, escalated to SIGTERM/SIGKILL if it hangs;
exit status 0. With ``--duration``/``--once`` the demo ends by itself and exits
1 if no valence message arrived (usable as a smoke test).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Sequence

from valence_ros.demo.scripted_face import (
    DemoPublisher, ScriptedSession, add_session_arguments, close_ros, run_seconds,
    script_summary)
from valence_ros.process import stop_requests
from valence_ros.demo.update_throttle import DEFAULT_LINES_PER_SECOND, UpdateThrottle
from valence_ros.core.valence_state import STATE_NAMES

PACKAGE = "valence_ros"
NODE_NAME = "valence_node"
TREE_NAME = "valence_bt_demo"


def installed_paths() -> tuple[str, str]:
    """(node executable, params file) from the sourced install space."""
    from ament_index_python.packages import (
        PackageNotFoundError, get_package_prefix, get_package_share_directory)
    try:
        prefix = get_package_prefix(PACKAGE)
        share = get_package_share_directory(PACKAGE)
    except PackageNotFoundError:
        raise SystemExit(
            "valence_demo: package 'valence_ros' not found in AMENT_PREFIX_PATH; "
            "run `make run`, or `. .venv-jazzy/bin/activate && . install/jazzy/setup.bash` first (or kilted)") from None
    return (os.path.join(prefix, "lib", PACKAGE, NODE_NAME),
            os.path.join(share, "config", "valence.yaml"))


def node_command(executable: str, params_file: str,
                 extra_ros_args: Sequence[str] = ()) -> list[str]:
    """The command line launch_ros builds for the launch file's Node action."""
    return [executable, "--ros-args", "-r", f"__node:={NODE_NAME}",
            "--params-file", params_file, *extra_ros_args]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphan if we are killed
    except Exception:
        pass


def start_node(cmd: list[str]) -> subprocess.Popen:
    # Own session: a terminal Ctrl-C reaches only us; we then stop the node
    # ourselves, in order (SIGINT, wait, escalate), as ros2 launch does.
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_die_with_parent)


def stop_node(proc: subprocess.Popen, timeout: float = 10.0, name: str = NODE_NAME) -> int:
    """SIGINT, then SIGTERM, then SIGKILL; always waits. Returns the exit code."""
    for sig, wait_s in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0),
                        (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait_s)
            break
        except subprocess.TimeoutExpired:
            print(f"[demo] {name} did not stop after {signal.Signals(sig).name}",
                  flush=True)
    return proc.wait()


def format_update(t: float, scene: str, face_id: str, valence: float, raw: float,
                  state: int | None) -> str:
    state_name = "-" if state is None else STATE_NAMES.get(state, str(state))
    return (f"t={t:7.2f}s scene={scene:<9s} face={face_id!r:<4s} "
            f"valence={valence:+.2f} raw={raw:+.2f} state={state_name}")


def format_reaction(t: float, reaction: str) -> str:
    return f"t={t:7.2f}s >>> robot reaction: {reaction}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="valence_demo",
        description="Run valence_node with a scripted demo face and print each "
                    "valence update (Ctrl-C stops).")
    add_session_arguments(parser)
    parser.add_argument("--params-file", default=None,
                        help="node parameter file (default: installed config/valence.yaml)")
    parser.add_argument("--node-executable", default=None,
                        help="node executable (default: installed lib/valence_ros/valence_node)")
    parser.add_argument("--no-node", action="store_true",
                        help="do not start valence_node (use one already running)")
    parser.add_argument("--no-tree", action="store_true",
                        help=f"do not start {TREE_NAME} (the demo behaviour tree)")
    parser.add_argument("--startup-timeout", type=float, default=60.0,
                        help="seconds to wait for the node to subscribe (default 60)")
    parser.add_argument("--lines-per-second", type=float, default=DEFAULT_LINES_PER_SECOND,
                        help="valence lines per second besides changes of state or scene "
                             f"(default {DEFAULT_LINES_PER_SECOND:g})")
    parser.add_argument("--all-updates", action="store_true",
                        help="print every valence message")
    args = parser.parse_args(argv)
    if not args.lines_per_second > 0:
        parser.error(f"--lines-per-second must be > 0, got {args.lines_per_second:g}")

    stop = stop_requests.install()  # before anything slow, so an early Ctrl-C is clean too
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions

    from std_msgs.msg import String

    from valence_ros.msg import Valence, ValenceState

    executable, default_params = installed_paths()
    executable = args.node_executable or executable
    params_file = args.params_file or default_params
    session = ScriptedSession(seed=args.seed)
    limit = run_seconds(args, session)
    cmd = node_command(executable, params_file)
    # The tree logs its reactions itself; here they are printed by this script instead.
    tree_cmd = [os.path.join(os.path.dirname(installed_paths()[0]), TREE_NAME),
                "--ros-args", "--log-level", "warn"]

    print("=" * 78)
    print("valence_ros demo")
    if args.no_node:
        print("  node:      (not started: --no-node)")
    else:
        print("  node:      " + " ".join(cmd))
    print(f"  face:      scripted session at {args.rate:g} Hz on /emotion_probabilities")
    print(f"             {script_summary(session)}"
          + (" (loops)" if limit is None else ""))
    if not args.no_tree:
        print(f"  tree:      {TREE_NAME}: comfort (someone NEGATIVE >= 1 s), smile (latest face")
        print("             POSITIVE), idle (nobody tracked), attend (otherwise) -> /robot_reaction")
    print("  output:    " + ("one line per /valence message" if args.all_updates else
                             f"/valence on each change of state or scene, else <= {args.lines_per_second:g} "
                             "lines/s (--all-updates: every one)") + "; state = latest /valence_state")
    print("  stop:      Ctrl-C" if limit is None else f"  stops after {limit:g} s")
    print("=" * 78, flush=True)

    proc = None if args.no_node else start_node(cmd)
    tree = None if args.no_tree else start_node(tree_cmd)
    context = rclpy.Context()
    rclpy.init(args=["valence_demo"], context=context,
               signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("valence_demo", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    publisher = DemoPublisher(node, session, rate_hz=args.rate, face_id=args.face_id,
                              with_labels=args.with_labels)
    latest_state: dict[str, int] = {}
    throttle = UpdateThrottle(args.lines_per_second, print_all=args.all_updates)
    updates = 0
    reactions = 0

    def on_reaction(msg) -> None:
        nonlocal reactions
        reactions += 1
        print(format_reaction(publisher.session_time(), msg.data), flush=True)

    def on_state(msg) -> None:
        latest_state[msg.face_id] = int(msg.state)

    def on_valence(msg) -> None:
        nonlocal updates
        updates += 1
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        t = publisher.session_time(stamp_ns)
        scene, state = session.scene_at(t), latest_state.get(msg.face_id)
        if throttle.should_print(time.monotonic(), msg.face_id, state, scene):
            print(format_update(t, scene, msg.face_id, msg.valence, msg.raw_valence, state),
                  flush=True)

    # Subscribe to the state first so a state is known before the valence line.
    node.create_subscription(
        ValenceState, "valence_state", on_state,
        QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                   reliability=ReliabilityPolicy.RELIABLE,
                   durability=DurabilityPolicy.TRANSIENT_LOCAL))
    if tree is not None:
        node.create_subscription(
            String, "robot_reaction", on_reaction,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL))
    node.create_subscription(
        Valence, "valence", on_valence,
        QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                   reliability=ReliabilityPolicy.RELIABLE))

    status = 0
    node_exit = None
    try:
        # Wait until the node subscribes, so the first frames are not lost.
        print("[demo] waiting for valence_node to subscribe to emotion_probabilities ...",
              flush=True)
        deadline = time.monotonic() + args.startup_timeout
        while not stop and publisher.publisher.get_subscription_count() == 0:
            if proc is not None and proc.poll() is not None:
                node_exit = proc.returncode
                print(f"[demo] valence_node exited during startup (code {node_exit})",
                      flush=True)
                status = 1
                break
            if time.monotonic() > deadline:
                print(f"[demo] no subscriber after {args.startup_timeout:g} s; giving up",
                      flush=True)
                status = 1
                break
            executor.spin_once(timeout_sec=0.1)
        if status == 0 and not stop:
            print("[demo] node ready; playing the script", flush=True)
            publisher.start()
            while not stop:
                executor.spin_once(timeout_sec=0.05)
                if proc is not None and proc.poll() is not None:
                    node_exit = proc.returncode
                    print(f"[demo] valence_node exited unexpectedly (code {node_exit})",
                          flush=True)
                    status = 1
                    break
                if limit is not None and publisher.session_time() >= limit:
                    publisher.stop()
                    # Let the answers to the last frames arrive.
                    end = time.monotonic() + 0.5
                    while time.monotonic() < end and not stop:
                        executor.spin_once(timeout_sec=0.05)
                    if updates == 0:
                        print("[demo] no valence message received", flush=True)
                        status = 1
                    break
    finally:
        close_ros(publisher, executor, node, context)
        if proc is not None and node_exit is None:
            print("[demo] stopping valence_node ...", flush=True)
            node_exit = stop_node(proc)
        if tree is not None:
            stop_node(tree, name=TREE_NAME)
    reason = f" ({signal.Signals(stop.signum).name})" if stop else ""
    print(f"[demo] stopped{reason}: {publisher.frames} frames sent, {updates} valence "
          f"updates received ({updates - throttle.suppressed} printed)"
          + ("" if tree is None else f", {reactions} reactions")
          + ("" if node_exit is None else
                                  f", valence_node exit code {node_exit}"), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
