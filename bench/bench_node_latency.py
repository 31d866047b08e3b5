#!/usr/bin/env python3
"""Publisher -> node -> subscriber latency of valence_node against a bare rclpy echo node.

Runs, in one go and on the same machine:
  * echo nodes: a minimal rclpy node that republishes each EmotionProbabilities as is
    (the floor any rclpy node pays: DDS in/out, deserialise, serialise, executor);
  * the INSTALLED valence_node (default config, namespace /bench_valence_*);
each with rclpy's EventsExecutor driven by spin_once (the node's default) and with
SingleThreadedExecutor (VALENCE_NODE_EXECUTOR=single), so the executor choice is
measured, not assumed.

A driver node (this process) publishes frames whose header.stamp is the wall time
just before publish(); the latency of a frame is receive time minus that stamp
(valence_node copies the input header into Valence). For each rate (30 Hz and
500 Hz by default) it reports median / p90 / p99 latency, lost frames, and the node
process's CPU time per frame (utime + stime from /proc/<pid>/stat), and the ratio
valence / echo for the same executor. Phases run one after another (never two
measured nodes busy at once); idle nodes stay up.

No pass/fail threshold on timing (a shared 2-core machine is noisy): the script
prints the table, writes bench_results/node_latency.json and exits 0 unless a node
failed to start or answered nothing.

    python bench/bench_node_latency.py            # 450 frames @ 30 Hz, 2000 @ 500 Hz
    python bench/bench_node_latency.py --quick    # fewer frames
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

ECHO_NODE = r'''
import sys
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.experimental import EventsExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from valence_ros.msg import EmotionProbabilities

def main():
    kind = sys.argv[1]
    rclpy.init()
    node = rclpy.create_node("echo_" + kind)
    pub = node.create_publisher(EmotionProbabilities, "echo_out", 10)
    # Same input QoS as valence_node's default config: best effort, depth 10.
    node.create_subscription(EmotionProbabilities, "echo_in", pub.publish,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
    ex = EventsExecutor() if kind == "events" else SingleThreadedExecutor()
    ex.add_node(node)
    try:
        while rclpy.ok():
            ex.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()

main()
'''

HAPPY = [0.02, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01]


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def find_node_executable() -> Path:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) + [
            str(REPO / "install" / "valence_ros")]:
        exe = Path(prefix) / "lib" / "valence_ros" / "valence_node"
        if prefix and exe.is_file():
            return exe
    sys.exit("bench_node_latency: valence_node is not installed; run `make setup` and "
             "`source install/setup.bash`")


class Target:
    """One node process under test and the driver's endpoints to it."""

    def __init__(self, label, kind, args, env, in_topic, out_topic, out_type):
        self.label, self.kind = label, kind
        self.in_topic, self.out_topic, self.out_type = in_topic, out_topic, out_type
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

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
    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context,
                   signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node("bench_driver", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:
            pass

    def close(self):
        self.context.try_shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()

    def endpoints(self, target: Target):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from valence_ros.msg import EmotionProbabilities
        with self.lock:
            pub = self.node.create_publisher(
                EmotionProbabilities, target.in_topic,
                QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
            sub = self.node.create_subscription(
                target.out_type, target.out_topic, self._on_output,
                QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        return pub, sub

    def _on_output(self, msg):
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.received.append((stamp, now))

    def wait_matched(self, pub, sub, target, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if target.proc.poll() is not None:
                sys.exit(f"bench_node_latency: {target.label} exited:\n{target.output()[-2000:]}")
            if pub.get_subscription_count() >= 1 and sub.get_publisher_count() >= 1:
                return
            time.sleep(0.05)
        sys.exit(f"bench_node_latency: {target.label} never connected")

    def run_phase(self, target: Target, pub, rate: float, n: int, warmup: int) -> dict:
        from valence_ros.msg import EmotionProbabilities
        msg = EmotionProbabilities()
        msg.face_id = "bench"
        msg.header.frame_id = "camera"
        msg.probabilities = HAPPY
        # Warm-up frames (caches, first-use allocations), not measured.
        sent_warm = set()
        for _ in range(warmup):
            stamp = self._stamp(msg)
            sent_warm.add(stamp)
            pub.publish(msg)
            time.sleep(1.0 / rate)
        time.sleep(0.3)
        self.received = []
        cpu0 = proc_cpu_seconds(target.proc.pid)
        sent = []
        period = 1.0 / rate
        next_t = time.perf_counter()
        for _ in range(n):
            sent.append(self._stamp(msg))
            pub.publish(msg)
            next_t += period
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        deadline = time.monotonic() + 3.0
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        cpu1 = proc_cpu_seconds(target.proc.pid)
        sent_set = set(sent)
        latencies = np.array([(recv - stamp) / 1e6 for stamp, recv in list(self.received)
                              if stamp in sent_set], dtype=np.float64)
        result = {"target": target.label, "executor": target.kind, "rate_hz": rate, "sent": n,
                  "received": int(latencies.size), "lost": int(n - latencies.size),
                  "cpu_us_per_frame": (cpu1 - cpu0) * 1e6 / n}
        if latencies.size:
            result.update({f"latency_ms_{name}": float(np.percentile(latencies, q))
                           for name, q in (("p50", 50), ("p90", 90), ("p99", 99))})
            result["latency_ms_min"] = float(latencies.min())
        return result

    @staticmethod
    def _stamp(msg) -> int:
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        return now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[30.0, 500.0])
    parser.add_argument("--frames", type=int, nargs="+", default=[450, 2000],
                        help="frames per rate (same order as --rates)")
    parser.add_argument("--quick", action="store_true", help="150 frames @ 30 Hz, 1000 @ 500 Hz")
    parser.add_argument("--executors", nargs="+", default=["events", "single"],
                        choices=["events", "single"])
    parser.add_argument("--out", type=Path, default=REPO / "bench_results" / "node_latency.json")
    args = parser.parse_args()
    if args.quick:
        args.frames = [150, 1000][:len(args.rates)]
    if len(args.frames) != len(args.rates):
        parser.error("--frames needs one count per rate")

    # A private domain, discovery on this machine only.
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 101))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})

    from valence_ros.msg import EmotionProbabilities, Valence
    node_exe = find_node_executable()
    echo_script = Path(tempfile.mkdtemp()) / "echo_node.py"
    echo_script.write_text(ECHO_NODE)

    targets: list[Target] = []
    for kind in args.executors:
        targets.append(Target(
            "echo", kind, [sys.executable, str(echo_script), kind, "--ros-args",
                           "-r", f"__ns:=/bench_echo_{kind}"],
            env, f"/bench_echo_{kind}/echo_in", f"/bench_echo_{kind}/echo_out",
            EmotionProbabilities))
        targets.append(Target(
            "valence_node", kind, [str(node_exe), "--ros-args", "-r", f"__ns:=/bench_valence_{kind}"],
            {**env, "VALENCE_NODE_EXECUTOR": kind},
            f"/bench_valence_{kind}/emotion_probabilities", f"/bench_valence_{kind}/valence", Valence))

    driver = Driver()
    results = []
    try:
        endpoints = {}
        for target in targets:
            pub, sub = driver.endpoints(target)
            driver.wait_matched(pub, sub, target)
            endpoints[id(target)] = pub
        for rate, n in zip(args.rates, args.frames):
            for target in targets:
                print(f"[bench] {target.label:12s} {target.kind:6s} {rate:6.0f} Hz x {n} ...",
                      flush=True)
                results.append(driver.run_phase(target, endpoints[id(target)], rate, n,
                                                warmup=min(50, n // 5)))
    finally:
        driver.close()
        for target in targets:
            target.stop()

    def row(r):
        if not r["received"]:
            return f"{r['target']:12s} {r['executor']:6s} {r['rate_hz']:6.0f}  no frames received"
        return (f"{r['target']:12s} {r['executor']:6s} {r['rate_hz']:6.0f} "
                f"{r['latency_ms_p50']:8.3f} {r['latency_ms_p90']:8.3f} {r['latency_ms_p99']:8.3f} "
                f"{r['lost']:5d} {r['cpu_us_per_frame']:9.1f}")

    print()
    print(f"{'node':12s} {'exec':6s} {'rate':>6s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} "
          f"{'lost':>5s} {'cpu us/fr':>9s}")
    for r in results:
        print(row(r))
    ratios = []
    print()
    for rate in args.rates:
        for kind in args.executors:
            pair = {r["target"]: r for r in results
                    if r["rate_hz"] == rate and r["executor"] == kind and r["received"]}
            if len(pair) == 2:
                ratio = {
                    "rate_hz": rate, "executor": kind,
                    "p50_ratio": pair["valence_node"]["latency_ms_p50"] / pair["echo"]["latency_ms_p50"],
                    "p90_ratio": pair["valence_node"]["latency_ms_p90"] / pair["echo"]["latency_ms_p90"],
                    "cpu_ratio": pair["valence_node"]["cpu_us_per_frame"] / max(
                        pair["echo"]["cpu_us_per_frame"], 1e-9),
                }
                ratios.append(ratio)
                print(f"valence/echo  {kind:6s} {rate:6.0f} Hz: median x{ratio['p50_ratio']:.2f}, "
                      f"p90 x{ratio['p90_ratio']:.2f}, CPU/frame x{ratio['cpu_ratio']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results, "ratios": ratios,
                                    "load_avg": os.getloadavg(), "cpus": os.cpu_count()},
                                   indent=2))
    print(f"\n[bench] wrote {args.out}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")
    if not all(r["received"] for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
