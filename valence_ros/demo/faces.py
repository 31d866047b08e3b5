"""`make run DEMO=faces`: real faces through valence_fer_node -> valence_node -> valence_bt_demo.

This process is the camera: it plays a script of real face photographs that ship in
installed registry packages (never downloaded; valence_ros.fer.sample_faces):

    nobody        2 s   an empty grey frame
    grace_hopper  4 s   matplotlib's grace_hopper.jpg (U.S. Navy portrait, neutral)
    astronaut     5 s   scikit-image's astronaut.png (Eileen Collins, NASA, smiling)
    grace_hopper  4 s
    nobody        4 s

as 640x480 sensor_msgs/Image (bgr8) on ``image`` at --rate Hz, stamped now, with a
few pixels of motion. It starts, as ``ros2 launch valence_ros valence.launch.py
fer:=image`` would, the installed valence_fer_node (input_mode image),
valence_node and valence_bt_demo with the installed params file, and prints one
line per valence message with what the FER model saw, and the tree's reactions::

    t=  4.20s scene=grace_hopper face=face_1 fer=neutral 0.97 valence=+0.01 raw=+0.02 state=NEUTRAL
    t=  8.10s >>> robot reaction: smile

Ctrl-C (SIGINT) or SIGTERM stops everything (each process gets SIGINT, as launch
sends it); --once / --duration end by themselves (exit 1 if no valence arrived).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Sequence

from valence_ros.core.valence_state import STATE_NAMES
from valence_ros.demo.runner import format_reaction, installed_paths, start_node, stop_node
from valence_ros.process import stop_requests

FER_NODE = "valence_fer_node"
TREE = "valence_bt_demo"
NOBODY = "nobody"
SCRIPT: tuple[tuple[str, float], ...] = (
    (NOBODY, 2.0), ("grace_hopper", 4.0), ("astronaut", 5.0), ("grace_hopper", 4.0), (NOBODY, 4.0))
MAX_REMEMBERED = 256   # EmotionProbabilities kept to annotate the valence lines


class FaceScript:
    """Which photograph is shown at time t (seconds since the start; loops)."""

    def __init__(self, script: Sequence[tuple[str, float]] = SCRIPT):
        self.script = tuple(script)
        self.duration = sum(seconds for _, seconds in self.script)
        self._frames: dict[str, object] = {}

    def scene_at(self, t: float) -> str:
        t %= self.duration
        for name, seconds in self.script:
            if t < seconds:
                return name
            t -= seconds
        return self.script[-1][0]

    def frame_at(self, t: float):
        """The 640x480 BGR frame of the scene at t, shifted by up to 6 pixels (a live camera)."""
        import numpy as np
        name = self.scene_at(t)
        if name not in self._frames:
            from valence_ros.fer.sample_faces import compose_frame
            self._frames[name] = (np.full((480, 640, 3), 120, np.uint8) if name == NOBODY
                                  else compose_frame([name], face_width=160))
        shift = int(3 * (1 + np.sin(2 * np.pi * t / 3.0)))
        return np.roll(self._frames[name], shift, axis=1)


def image_message(frame, stamp_ns: int, frame_id: str = "demo_camera"):
    from sensor_msgs.msg import Image
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
    msg.encoding = "bgr8"
    msg.step = msg.width * 3
    msg.data = frame.tobytes()
    return msg


def format_line(t: float, scene: str, face_id: str, fer: str, valence: float, raw: float,
                state: int | None) -> str:
    state_name = "-" if state is None else STATE_NAMES.get(state, str(state))
    return (f"t={t:7.2f}s scene={scene:<12s} face={face_id:<7s} fer={fer:<13s} "
            f"valence={valence:+.2f} raw={raw:+.2f} state={state_name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="valence_faces_demo",
        description="Real face photographs -> valence_fer_node -> valence_node -> "
                    "valence_bt_demo; one line per valence update (Ctrl-C stops).")
    parser.add_argument("--rate", type=float, default=10.0, help="camera frames per second (default 10)")
    end = parser.add_mutually_exclusive_group()
    end.add_argument("--duration", type=float, default=None,
                     help="stop after this many seconds (default: loop until Ctrl-C)")
    end.add_argument("--once", action="store_true", help="stop after one pass of the script")
    parser.add_argument("--params-file", default=None,
                        help="parameter file (default: installed config/valence.yaml)")
    parser.add_argument("--startup-timeout", type=float, default=60.0,
                        help="seconds to wait for the nodes (default 60)")
    args = parser.parse_args(argv)
    if not 0.5 <= args.rate <= 60.0:
        parser.error(f"--rate {args.rate} is invalid; allowed: [0.5, 60]")

    stop = stop_requests.install()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from valence_ros.msg import EmotionProbabilities, Valence, ValenceState

    node_exe, default_params = installed_paths()
    params_file = args.params_file or default_params
    lib = os.path.dirname(node_exe)
    script = FaceScript()
    limit = script.duration if args.once else args.duration
    commands = {
        FER_NODE: [os.path.join(lib, FER_NODE), "--ros-args", "-r", f"__node:={FER_NODE}",
                   "--params-file", params_file, "-p", "input_mode:=image"],
        "valence_node": [node_exe, "--ros-args", "-r", "__node:=valence_node",
                         "--params-file", params_file],
        TREE: [os.path.join(lib, TREE), "--ros-args", "--log-level", "warn"],
    }
    print("=" * 78)
    print("valence_ros faces demo: real photographs -> FER -> valence -> behaviour tree")
    for name, cmd in commands.items():
        print(f"  {name + ':':<17s}{' '.join(cmd)}")
    print(f"  camera:          {args.rate:g} Hz 640x480 bgr8 on /image: "
          + ", ".join(f"{n} {s:g}s" for n, s in script.script) + ("" if limit else " (loops)"))
    print("                   grace_hopper = matplotlib's grace_hopper.jpg (neutral),")
    print("                   astronaut = scikit-image's astronaut.png (smiling)")
    print("  output:          one line per /valence; fer = the model's top label; reactions of the tree")
    print("  stop:            Ctrl-C" if limit is None else f"  stops after {limit:g} s")
    print("=" * 78, flush=True)

    processes = {name: start_node(cmd) for name, cmd in commands.items()}
    context = rclpy.Context()
    rclpy.init(args=["valence_faces_demo"], context=context,
               signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("valence_faces_demo", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                          reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    camera = node.create_publisher(Image, "image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    start_ns = time.time_ns()
    seen: dict[tuple[int, str], str] = {}   # (stamp, face_id) -> "label p"
    latest: dict[str, str] = {}             # face_id -> its latest "label p"
    states: dict[str, int] = {}
    counts = {"valence": 0, "reactions": 0, "frames": 0}

    def t_of(stamp) -> float:
        return (stamp.sec * 1_000_000_000 + stamp.nanosec - start_ns) * 1e-9

    def on_probabilities(msg) -> None:
        best = max(range(len(msg.probabilities)), key=lambda i: msg.probabilities[i])
        key = (msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec, msg.face_id)
        seen[key] = latest[msg.face_id] = f"{msg.labels[best]} {msg.probabilities[best]:.2f}"
        while len(seen) > MAX_REMEMBERED:
            seen.pop(next(iter(seen)))
        while len(latest) > MAX_REMEMBERED:
            latest.pop(next(iter(latest)))

    def on_valence(msg) -> None:
        counts["valence"] += 1
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        t = t_of(msg.header.stamp)
        # the frame's own FER result; if the valence overtook it, the face's latest
        fer = seen.get((stamp_ns, msg.face_id)) or latest.get(msg.face_id, "?")
        print(format_line(t, script.scene_at(t), msg.face_id, fer, msg.valence, msg.raw_valence,
                          states.get(msg.face_id)), flush=True)

    def on_reaction(msg) -> None:
        counts["reactions"] += 1
        print(format_reaction((time.time_ns() - start_ns) * 1e-9, msg.data), flush=True)

    node.create_subscription(EmotionProbabilities, "emotion_probabilities", on_probabilities, reliable)
    node.create_subscription(ValenceState, "valence_state",
                             lambda msg: states.__setitem__(msg.face_id, int(msg.state)), latched)
    node.create_subscription(String, "robot_reaction", on_reaction, latched)
    node.create_subscription(Valence, "valence", on_valence, reliable)

    status = 0
    try:
        print("[demo] waiting for valence_fer_node to subscribe to /image ...", flush=True)
        deadline = time.monotonic() + args.startup_timeout
        while not stop and camera.get_subscription_count() == 0:
            executor.spin_once(timeout_sec=0.1)
            exited = [n for n, p in processes.items() if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                print(f"[demo] {', '.join(exited) + ' exited' if exited else 'no subscriber'} "
                      f"during startup; giving up", flush=True)
                status = 1
                break
        if status == 0 and not stop:
            print("[demo] nodes ready; playing the photographs", flush=True)
            start_ns = time.time_ns()
            period_ns = int(1e9 / args.rate)
            next_ns = start_ns
            while not stop:
                now = time.time_ns()
                if now >= next_ns:
                    t = (now - start_ns) * 1e-9
                    if limit is not None and t >= limit:
                        break
                    camera.publish(image_message(script.frame_at(t), now))
                    counts["frames"] += 1
                    next_ns += period_ns
                executor.spin_once(timeout_sec=max(0.0, min(0.05, (next_ns - time.time_ns()) * 1e-9)))
                exited = [n for n, p in processes.items() if p.poll() is not None]
                if exited:
                    print(f"[demo] {', '.join(exited)} exited unexpectedly", flush=True)
                    status = 1
                    break
            end = time.monotonic() + 1.0   # the answers to the last frames
            while not stop and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
            if counts["valence"] == 0:
                print("[demo] no valence message received", flush=True)
                status = 1
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
        codes = {name: stop_node(proc, name=name) for name, proc in reversed(list(processes.items()))}
    reason = f" ({signal.Signals(stop.signum).name})" if stop else ""
    print(f"[demo] stopped{reason}: {counts['frames']} frames sent, {counts['valence']} valence "
          f"updates, {counts['reactions']} reactions; exit codes "
          + ", ".join(f"{n} {c}" for n, c in codes.items()), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
