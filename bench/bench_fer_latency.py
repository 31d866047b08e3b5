#!/usr/bin/env python3
"""Camera image -> valence through valence_fer_node and valence_node, against valence_node alone.

Targets: the installed valence_fer_node (input_mode image, the installed params file)
and valence_node, in one namespace, as `ros2 launch valence_ros valence.launch.py
fer:=image` starts them. The driver is the camera: it publishes pre-serialised
640x480 bgr8 sensor_msgs/Image frames of real faces (valence_ros.fer.sample_faces:
the smiling astronaut and Grace Hopper, composed 1 or 4 to a frame) with
header.stamp = wall time just before publish, and subscribes raw to valence_node's
Valence, reading the stamp from the bytes (both nodes copy the image's header).

Cases, interleaved in every repetition (order rotating):
  valence_only  EmotionProbabilities straight into valence_node (stamp = now): the
                baseline, valence_node's own per-frame latency and CPU
  1_face        one face per image: image -> FER -> valence
  4_faces       four faces per image (one Valence per face)
Figures (median and min..max over --reps repetitions): latency p50/p99 from the
camera stamp to the Valence's arrival (every face's Valence counts), the FER node's
own detection and received -> published times (its /diagnostics), images answered,
CPU per image of the FER node and of both nodes (all threads' run time over the
phase / images answered), ratios to the baseline's latency and CPU in the same
repetition. The #18 goal: image -> valence p50 <= 20 ms. At --rate Hz (default 10:
the FER node must keep up; it drops, never queues, so a higher rate than it can
classify measures drops, not latency).

Each repetition runs in fresh processes per transport (Fast DDS reads an XML profile
once per process), the transports interleaved: "default" (Fast DDS as installed) and
"shm_16MiB" (config/fastdds_large_images.xml for the camera and both nodes: shared
memory segments that hold whole frames, instead of UDP fragments).

    python bench/bench_fer_latency.py             # ~3 min
    python bench/bench_fer_latency.py --smoke     # seconds: every case runs, numbers meaningless
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
from latency_driver import HAPPY, Target, cpu_ns, node_env, rss_kb  # noqa: E402

NAMESPACE = "/bench_fer"
CASES = ("valence_only", "1_face", "4_faces")
STAGE_KEYS = ("decode_ms_p50", "detect_ms_p50", "detect_ms_p99", "classify_ms_p50", "total_ms_p50",
              "total_ms_p99")
FACES = {"1_face": ["astronaut"], "4_faces": ["astronaut", "grace_hopper", "astronaut", "grace_hopper"]}


def executable(name: str) -> Path:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) + [
            str(benchlib.REPO / "install" / "valence_ros")]:
        exe = Path(prefix) / "lib" / "valence_ros" / name
        if prefix and exe.is_file():
            return exe
    sys.exit(f"bench_fer_latency: {name} is not installed; run `make setup` and "
             "`source install/setup.bash`")


def params_file() -> Path:
    return executable("valence_node").parents[2] / "share" / "valence_ros" / "config" / "valence.yaml"


class Camera:
    """The driver node: Image and EmotionProbabilities publishers, raw Valence subscriber."""

    def __init__(self):
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import Image

        from valence_ros.fer.sample_faces import compose_frame
        from valence_ros.msg import EmotionProbabilities, Valence
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node("bench_fer_camera", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, f"{NAMESPACE}/image",
                                                    QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self.probabilities_pub = self.node.create_publisher(
            EmotionProbabilities, f"{NAMESPACE}/emotion_probabilities", reliable)
        self.received: list[tuple[int, bytes]] = []
        self.valence_sub = self.node.create_subscription(
            Valence, f"{NAMESPACE}/valence",
            lambda data: self.received.append((time.time_ns(), data[4:12])),
            QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE), raw=True)
        # the FER node's /diagnostics: its own per-stage times (received -> published)
        from diagnostic_msgs.msg import DiagnosticArray
        self.stages: list[dict] = []
        self.diagnostics_sub = self.node.create_subscription(
            DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        self.templates = {}
        for case, names in FACES.items():
            frame = np.ascontiguousarray(compose_frame(names))
            msg = Image(height=frame.shape[0], width=frame.shape[1], encoding="bgr8",
                        step=frame.shape[1] * 3)
            msg.header.frame_id = "bench_camera"
            msg.data = frame.tobytes()
            self.templates[case] = bytes(serialize_message(msg))
        probabilities = EmotionProbabilities(face_id="bench", probabilities=HAPPY)
        probabilities.header.frame_id = "bench_camera"
        self.templates["valence_only"] = bytes(serialize_message(probabilities))
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name == f"{NAMESPACE.lstrip('/')}/valence_fer_node: fer":
                values = {kv.key: kv.value for kv in status.values}
                if float(values.get("input_rate_hz", 0)) > 0:
                    self.stages.append({key: float(values[key]) for key in STAGE_KEYS if key in values})

    def _spin(self):
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # the context was shut down under us: the bench is ending
            pass

    def close(self):
        self.context.try_shutdown()
        self._thread.join(timeout=5)
        self.node.destroy_node()

    def matched(self) -> bool:
        return (self.image_pub.get_subscription_count() >= 1
                and self.probabilities_pub.get_subscription_count() >= 1
                and self.valence_sub.get_publisher_count() >= 1)

    def send(self, case: str, rate: float, n: int) -> dict[bytes, int]:
        template = self.templates[case]
        publisher = self.probabilities_pub if case == "valence_only" else self.image_pub
        sent, period, start = {}, 1.0 / rate, time.perf_counter()
        for i in range(n):
            now = time.time_ns()
            sec, nanosec = divmod(now, 1_000_000_000)
            stamp = sec.to_bytes(4, "little", signed=True) + nanosec.to_bytes(4, "little")
            sent[stamp] = now
            publisher.publish(template[:4] + stamp + template[12:])
            delay = start + (i + 1) * period - time.perf_counter()
            if delay > 0.0002:
                time.sleep(delay)
        return sent


def phase(camera: Camera, targets: dict[str, Target], case: str, rate: float, n: int, warmup: int) -> dict:
    faces = len(FACES.get(case, ["bench"]))
    if warmup:
        camera.send(case, rate, warmup)
        time.sleep(0.5)
    camera.received.clear()
    camera.stages.clear()
    cpu0 = {label: cpu_ns(t.proc.pid) for label, t in targets.items()}
    sent = camera.send(case, rate, n)
    deadline, seen, quiet = time.monotonic() + 5.0, -1, time.monotonic()
    while len(camera.received) < n * faces and time.monotonic() < deadline:
        if len(camera.received) != seen:
            seen, quiet = len(camera.received), time.monotonic()
        elif time.monotonic() - quiet > 1.0:
            break
        time.sleep(0.01)
    cpu1 = {label: cpu_ns(t.proc.pid) for label, t in targets.items()}
    answers = [(recv, stamp) for recv, stamp in list(camera.received) if stamp in sent]
    latencies = np.array([(recv - sent[stamp]) / 1e6 for recv, stamp in answers])
    images = len({stamp for _, stamp in answers})
    result = {"case": case, "sent": n, "images_answered": images, "valence_messages": len(answers),
              "cpu_ms_per_image": {label: (cpu1[label] - cpu0[label]) / 1e6 / max(images, 1)
                                   for label in targets}}
    result["cpu_ms_per_image"]["both"] = sum(result["cpu_ms_per_image"].values())
    # the FER node's own stage times: median over its diagnostics periods in the phase
    stages = list(camera.stages)
    result["fer_node_stages_ms"] = {key: float(np.median([s[key] for s in stages if key in s]))
                                    for key in STAGE_KEYS if any(key in s for s in stages)}
    if latencies.size:
        result["latency_ms_p50"] = float(np.percentile(latencies, 50))
        result["latency_ms_p99"] = float(np.percentile(latencies, 99))
    return result


TRANSPORTS = {
    "default": None,   # Fast DDS as installed: a 640x480 frame (900 KB) travels as UDP fragments
    # config/fastdds_large_images.xml: shared-memory segments large enough for whole frames
    "shm_16MiB": "fastdds_large_images.xml",
}


def measure(transport: str, rep: int, frames: int, rate: float, warmup: int) -> dict:
    """One repetition of every case (order rotated by `rep`), in this process, whose
    environment already selects the transport; {"runs": [...], "rss_kb": {...}}."""
    env = node_env()
    params = str(params_file())
    targets = {
        "valence_fer_node": Target("valence_fer_node", [str(executable("valence_fer_node")), "--ros-args",
                                                        "--params-file", params, "-p", "input_mode:=image"],
                                   env, NAMESPACE),
        "valence_node": Target("valence_node", [str(executable("valence_node")), "--ros-args",
                                                "--params-file", params], env, NAMESPACE),
    }
    camera = Camera()
    runs: list[dict] = []
    try:
        start = time.monotonic()
        while not camera.matched():
            for target in targets.values():
                if not target.alive():
                    sys.exit(f"bench_fer_latency: {target.label} exited:\n{target.output()[-2000:]}")
            if time.monotonic() - start > 60:
                sys.exit("bench_fer_latency: the nodes never connected")
            time.sleep(0.05)
        time.sleep(1.0)
        order = CASES[rep % len(CASES):] + CASES[:rep % len(CASES)]
        for case in order:
            run = phase(camera, targets, case, rate, frames, warmup)
            run.update(rep=rep, transport=transport)
            runs.append(run)
            print(f"[fer_latency] rep {rep} {transport:<9s} {case:<12s} answered "
                  f"{run['images_answered']}/{frames} "
                  f"p50 {run.get('latency_ms_p50', float('nan')):.1f} ms "
                  f"p99 {run.get('latency_ms_p99', float('nan')):.1f} ms "
                  f"cpu/image fer {run['cpu_ms_per_image']['valence_fer_node']:.1f} ms "
                  f"valence {run['cpu_ms_per_image']['valence_node']:.2f} ms; fer node stages "
                  + " ".join(f"{k[:-7]} {v:.1f}" for k, v in run["fer_node_stages_ms"].items()),
                  flush=True)
        rss = {label: rss_kb(t.proc.pid) for label, t in targets.items()}
    finally:
        camera.close()
        for target in targets.values():
            target.stop()
    return {"runs": runs, "rss_kb": rss}


def run_child(transport: str, rep: int, args, warmup: int) -> dict:
    """measure() in a process of its own: Fast DDS reads its XML profile once per process."""
    import json
    import subprocess
    import tempfile
    env = dict(os.environ)
    if TRANSPORTS[transport]:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(params_file().with_name(TRANSPORTS[transport]))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs.json"
        subprocess.run([sys.executable, __file__, "--child", transport, "--rep", str(rep),
                        "--frames", str(args.frames), "--rate", str(args.rate), "--warmup", str(warmup),
                        "--out", str(out)], env=env, check=True, timeout=600)
        return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run, numbers meaningless")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--frames", type=int, default=80, help="images per case and repetition")
    parser.add_argument("--rate", type=float, default=10.0, help="images per second (default 10)")
    parser.add_argument("--child", choices=sorted(TRANSPORTS), help=argparse.SUPPRESS)
    parser.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.reps, args.frames = 1, 10
    warmup = args.warmup if args.warmup is not None else min(20, max(2, args.frames // 5))
    if args.child:
        import json
        args.out.write_text(json.dumps(measure(args.child, args.rep, args.frames, args.rate, warmup)))
        return 0

    result = benchlib.Result("fer_latency")
    runs: list[dict] = []
    rss: dict = {}
    names = list(TRANSPORTS)
    for rep in range(args.reps):   # transports interleaved, the order alternating
        for transport in (names if rep % 2 == 0 else names[::-1]):
            child = run_child(transport, rep, args, warmup)
            runs += child["runs"]
            rss[transport] = child["rss_kb"]

    def values(transport, case, key, sub=None):
        return [run.get(key) if sub is None else run[key].get(sub) for run in runs
                if run["transport"] == transport and run["case"] == case]

    def ratios(transport, case, key, sub=None, base_sub=None):
        base = {r["rep"]: (r.get(key) if base_sub is None else r[key].get(base_sub)) for r in runs
                if r["transport"] == transport and r["case"] == "valence_only"}
        out = []
        for run in runs:
            if run["transport"] == transport and run["case"] == case and base.get(run["rep"]):
                value = run.get(key) if sub is None else run[key].get(sub)
                if value is not None:
                    out.append(value / base[run["rep"]])
        return out

    for transport in names:
        tag = f"[{transport}]"
        value, range_ = benchlib.spread(values(transport, "valence_only", "latency_ms_p50"))
        result.add(f"valence_node alone: EmotionProbabilities -> Valence p50 {tag}", value, "ms",
                   range_=range_)
        value, range_ = benchlib.spread(values(transport, "valence_only", "cpu_ms_per_image", "valence_node"))
        result.add(f"valence_node alone: CPU per frame {tag}", value, "ms", range_=range_)
        for case in ("1_face", "4_faces"):
            label = f"{case.replace('_', ' ')} {tag}"
            for q in ("p50", "p99"):
                value, range_ = benchlib.spread(values(transport, case, f"latency_ms_{q}"))
                ratio, ratio_range = benchlib.spread(ratios(transport, case, f"latency_ms_{q}"))
                result.add(f"image -> valence {q}, 640x480, {label}", value, "ms", range_=range_,
                           baseline=f"valence_node alone ({q})", ratio=ratio, ratio_range=ratio_range,
                           target="<= 20" if q == "p50" else None, target_on="value")
            value, range_ = benchlib.spread(values(transport, case, "cpu_ms_per_image", "both"))
            ratio, ratio_range = benchlib.spread(ratios(transport, case, "cpu_ms_per_image", "both",
                                                        base_sub="valence_node"))
            result.add(f"both nodes CPU per image, {label}", value, "ms", range_=range_,
                       baseline="valence_node alone, CPU per frame", ratio=ratio, ratio_range=ratio_range)
            value, range_ = benchlib.spread(values(transport, case, "fer_node_stages_ms", "total_ms_p50"))
            result.add(f"valence_fer_node received -> published p50 (its diagnostics), {label}",
                       value, "ms", range_=range_)
            value, range_ = benchlib.spread(values(transport, case, "images_answered"))
            result.add(f"images answered of {args.frames} at {args.rate:g} Hz, {label}", value, "",
                       range_=range_)
    result.details = {"runs": runs, "rss_kb": rss, "rate_hz": args.rate, "frames": args.frames,
                      "reps": args.reps, "warmup": warmup, "smoke": args.smoke,
                      "transports": TRANSPORTS}
    path = result.write()
    print(f"[fer_latency] wrote {path}")
    if not any(r.get("latency_ms_p50") is not None for r in runs if r["case"] != "valence_only"):
        print("bench_fer_latency: no image was answered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
