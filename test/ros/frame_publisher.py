"""Helper process for soak and fault tests (not a test module): publishes frames, or
counts them.

    python frame_publisher.py publish --topic T --rate HZ [--count N] [--reliability R]
                              [--face-prefix P] [--distinct-faces] [--burst]
    python frame_publisher.py count --topic T --reliability R

`publish` sends valid EmotionProbabilities (happy/sad alternating per face, stamps
33 ms apart) at a steady rate (deadline-paced, not sleep-accumulated), or as fast as
it can with --burst; it waits for a subscriber first, prints "sent N" at the end
(or when stopped by SIGINT/SIGTERM). `count` is the bare echo node of the loss
comparison: a subscription with the given QoS that counts what arrives and prints
"received N" when stopped. Runs in its own process so the test's executor thread
does not share a GIL with the sending loop.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from array import array

HAPPY = (0.02, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01)
SAD = (0.05, 0.01, 0.85, 0.03, 0.02, 0.03, 0.01)
BASE_SEC = 1_700_000_000

stop = []


def _stop(signum, frame):
    stop.append(signum)


def _qos(reliability: str, depth: int, keep_all: bool = False):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(
        history=HistoryPolicy.KEEP_ALL if keep_all else HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT)


def publish(args, node) -> int:
    from valence_ros.msg import EmotionProbabilities
    # A reliable writer keeps all samples until acknowledged (flow control, no
    # overwrite of unacknowledged ones); best effort keeps the last 1000. A burst
    # queues every message in the writer's history at once (no flow control).
    if args.burst:
        qos = _qos(args.reliability, max(1000, args.count))
    else:
        qos = _qos(args.reliability, 1000, keep_all=args.reliability == "reliable")
    publisher = node.create_publisher(EmotionProbabilities, args.topic, qos)
    deadline = time.monotonic() + 60
    while publisher.get_subscription_count() < 1 and not stop:
        if time.monotonic() > deadline:
            print("no subscriber after 60 s", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.01)
    print("matched", flush=True)
    msg = EmotionProbabilities()
    msg.header.frame_id = "camera"
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    start = time.monotonic()
    sent = 0
    while not stop and (args.count <= 0 or sent < args.count):
        if period and not args.burst:
            delay = start + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stamp_ns = BASE_SEC * 10**9 + sent * 33_000_000
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        msg.face_id = f"{args.face_prefix}{sent}" if args.distinct_faces else args.face_prefix
        msg.probabilities = array("f", HAPPY if (sent // 50) % 2 == 0 else SAD)
        try:
            publisher.publish(msg)
        except Exception as error:  # a reliable keep-all writer full of unacknowledged samples
            if "cannot publish" not in str(error):
                raise
            time.sleep(0.001)  # backpressure: retry the same message
            continue
        sent += 1
    if args.reliability == "reliable":  # the writer must outlive its unacknowledged samples
        from rclpy.duration import Duration
        publisher.wait_for_all_acked(Duration(seconds=120))
    if args.linger > 0:
        end = time.monotonic() + args.linger
        while not stop and time.monotonic() < end:
            time.sleep(0.05)
    print(f"sent {sent}", flush=True)
    return 0


def count(args, node) -> int:
    from rclpy.executors import SingleThreadedExecutor
    from valence_ros.msg import EmotionProbabilities
    received = [0]

    def on_msg(msg):
        received[0] += 1

    node.create_subscription(EmotionProbabilities, args.topic, on_msg, _qos(args.reliability, 1000))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print("counting", flush=True)
    while not stop:
        executor.spin_once(timeout_sec=0.05)
    print(f"received {received[0]}", flush=True)
    executor.shutdown()
    return 0


class Helper:
    """This script as a child process of a test: start, wait for a line, stop."""

    def __init__(self, *args: str):
        import os
        import subprocess
        self.popen = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
        self.lines: list[str] = []

    def wait_line(self, prefix: str, timeout: float = 60.0) -> str:
        import selectors
        selector = selectors.DefaultSelector()
        selector.register(self.popen.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = self.popen.stdout.readline()
                if not line:
                    break
                self.lines.append(line.strip())
                if line.startswith(prefix):
                    return line.strip()
        raise AssertionError(f"helper {self.popen.args[2:4]}: no {prefix!r} line; output: {self.lines[-10:]}")

    def number(self, prefix: str, timeout: float = 60.0) -> int:
        return int(self.wait_line(prefix, timeout).split()[-1])

    def stop(self, sig=signal.SIGINT) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=10)
        self.popen.stdout.close()


def main() -> int:
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("publish", "count"))
    parser.add_argument("--topic", default="/emotion_probabilities")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--reliability", choices=("reliable", "best_effort"), default="reliable")
    parser.add_argument("--face-prefix", default="pub")
    parser.add_argument("--distinct-faces", action="store_true")
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--linger", type=float, default=0.0)
    args = parser.parse_args()
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(f"frame_{args.mode}er")
    try:
        return publish(args, node) if args.mode == "publish" else count(args, node)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
