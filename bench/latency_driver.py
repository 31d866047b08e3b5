"""The measuring side of bench_node_latency.py: node processes under test and one driver node.

The driver publishes pre-serialised EmotionProbabilities (the bytes of one message
with the stamp patched: header.stamp = wall time just before publish) and subscribes
raw to each target's Valence output, reading the stamp from the bytes; so the driver's
own cost per frame is small and identical for every target. Latency of a frame =
receive time - stamp (every target copies the input header into its Valence).
CPU of a target = the sum of its threads' run time (/proc/<pid>/task/*/schedstat,
nanoseconds) over the phase, per frame it answered.
"""
from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HAPPY = [0.02, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01]
_stamp = struct.Struct("<iI")


def cpu_ns(pid: int) -> int:
    """Run time of all threads of `pid` so far, in ns (threads that ended are lost:
    the measured nodes keep theirs)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_kb(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


class Target:
    """One node process under test, in its own namespace."""

    def __init__(self, label: str, args: list[str], env: dict, namespace: str):
        self.label, self.namespace = label, namespace
        self.in_topic, self.out_topic = f"{namespace}/emotion_probabilities", f"{namespace}/valence"
        self.log = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args + ["--ros-args", "-r", f"__ns:={namespace}"], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


class Driver:
    """Publisher and subscriber endpoints to every target, spun in a background thread."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node("bench_driver", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[int, int]]] = {}
        self.lock = threading.Lock()
        self.endpoints: dict[str, tuple] = {}
        self.template = self._template()
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    @staticmethod
    def _template() -> bytes:
        from rclpy.serialization import serialize_message
        from valence_ros.msg import EmotionProbabilities
        msg = EmotionProbabilities()
        msg.face_id, msg.header.frame_id, msg.probabilities = "bench", "camera", HAPPY
        return bytes(serialize_message(msg))

    def _spin(self):
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # the context was shut down under us: the bench is ending
            pass

    def close(self):
        self.context.try_shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()

    def connect(self, target: Target):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from valence_ros.msg import EmotionProbabilities, Valence
        log = self.received.setdefault(target.out_topic, [])

        def on_output(data: bytes, log=log):
            log.append((time.time_ns(), data[4:12]))
        with self.lock:
            pub = self.node.create_publisher(
                EmotionProbabilities, target.in_topic,
                QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
            sub = self.node.create_subscription(
                Valence, target.out_topic, on_output,
                QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE), raw=True)
        self.endpoints[target.label] = (pub, sub)

    def disconnect(self, target: Target):
        pub, sub = self.endpoints.pop(target.label)
        with self.lock:
            self.node.destroy_publisher(pub)
            self.node.destroy_subscription(sub)

    def matched(self, target: Target) -> bool:
        """Both driver endpoints matched the target's (DDS discovery done)."""
        pub, sub = self.endpoints[target.label]
        return pub.get_subscription_count() >= 1 and sub.get_publisher_count() >= 1

    def wait_matched(self, target: Target, timeout: float = 60.0) -> float:
        """Seconds until both endpoints matched; exits the bench if the target died."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if not target.alive():
                sys.exit(f"bench_node_latency: {target.label} exited:\n{target.output()[-2000:]}")
            if self.matched(target):
                return time.monotonic() - start
            time.sleep(0.02)
        sys.exit(f"bench_node_latency: {target.label} never connected")

    def _frame(self) -> tuple[bytes, bytes]:
        sec, nanosec = divmod(time.time_ns(), 1_000_000_000)
        stamp = _stamp.pack(sec, nanosec)
        return self.template[:4] + stamp + self.template[12:], stamp

    def send(self, target: Target, rate: float, n: int) -> tuple[dict[bytes, int], float]:
        """Publish n frames paced at `rate` (catching up in bursts when late); returns
        {stamp bytes: stamp ns} and the achieved rate."""
        pub = self.endpoints[target.label][0]
        sent: dict[bytes, int] = {}
        period = 1.0 / rate
        start = time.perf_counter()
        for i in range(n):
            data, stamp = self._frame()
            sent[stamp] = int.from_bytes(stamp[:4], "little", signed=True) * 1_000_000_000 + \
                int.from_bytes(stamp[4:], "little")
            pub.publish(data)
            delay = start + (i + 1) * period - time.perf_counter()
            if delay > 0.0002:
                time.sleep(delay)
        elapsed = time.perf_counter() - start
        return sent, n / max(elapsed, 1e-9)

    def phase(self, target: Target, rate: float, n: int, warmup: int, settle: float = 0.3) -> dict:
        """One measured run: warm-up frames, then n frames at `rate`; latency and CPU."""
        log = self.received[target.out_topic]
        if warmup:
            self.send(target, rate, warmup)
            time.sleep(settle)
        log.clear()
        cpu0 = cpu_ns(target.proc.pid)
        sent, achieved = self.send(target, rate, n)
        # until every frame is back, or nothing came for 0.5 s (lost), at most 3 s
        deadline, seen, quiet_since = time.monotonic() + 3.0, -1, time.monotonic()
        while len(log) < n and time.monotonic() < deadline:
            if len(log) != seen:
                seen, quiet_since = len(log), time.monotonic()
            elif time.monotonic() - quiet_since > 0.5:
                break
            time.sleep(0.01)
        time.sleep(0.1)
        cpu1 = cpu_ns(target.proc.pid)
        latencies = np.array([(recv - sent[stamp]) / 1e6 for recv, stamp in list(log) if stamp in sent])
        result = {"target": target.label, "rate_hz": rate, "achieved_hz": achieved, "sent": n,
                  "received": int(latencies.size), "lost": int(n - latencies.size),
                  # per frame the target answered (a lost frame costs it little)
                  "cpu_us_per_frame": (cpu1 - cpu0) / 1e3 / max(latencies.size, 1)}
        if latencies.size:
            for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
                result[f"latency_ms_{name}"] = float(np.percentile(latencies, q))
        return result


def node_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(extra or {})
    return env
