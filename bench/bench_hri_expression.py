"""What hri_expression adds per frame: ExpressionOutput.publish() next to the Valence
publish the node does anyway.

In one process with a real rclpy node and real publishers (no subscriber, so this
is the node-side cost: dominant emotion, message fill, rclpy serialise + write):

- baseline: publishing the node's reused valence_ros/Valence message;
- ExpressionOutput.publish() for one face (its publisher exists: the steady state);
- the same cycling over max_faces = 16 faces.

Needs hri_msgs (`make bench` sources the test fixture; without it the figures are
empty, with a note). Each figure: REPEATS runs of CALLS calls, the median [min-max] of
the runs' per-call means (the three take turns in each repeat, after a warm-up
round); ratio = over the Valence publish of the same run. Written
through benchlib to bench_results/hri_expression.json.

    python bench/bench_hri_expression.py [--repeats 5] [--calls 20000] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from itertools import cycle
from pathlib import Path

os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))  # no traffic: a private domain
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


NAMES = ("Valence publish (baseline)", "Expression publish, 1 face",
         "Expression publish, 16 faces cycling")


def interleaved_us(variants: dict, calls: int, repeats: int) -> dict[str, list[float]]:
    """Per-call µs of each (fn, args) variant; the variants take turns in every repeat
    (after one warm-up round), so a load change on the machine hits all of them."""
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(repeats + 1):
        for name, (fn, args) in variants.items():
            it = cycle(args)
            t0 = time.perf_counter_ns()
            for _ in range(calls):
                fn(*next(it))
            if repeat:  # round 0 warms caches up
                runs[name].append((time.perf_counter_ns() - t0) / calls / 1000.0)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--smoke", action="store_true", help="seconds-long run (numbers meaningless)")
    options = parser.parse_args()
    if options.smoke:
        options.repeats, options.calls = 2, 200
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import benchlib
    result = benchlib.Result("hri_expression")
    try:
        import hri_msgs.msg as hri
    except ImportError as error:
        note = f"hri_msgs not importable ({error}); `make bench` sources the test fixture"
        for name in NAMES:
            result.add(name, None, "us", note=note)
        result.write()
        print(f"bench_hri_expression: {note}")
        return 0
    import numpy as np
    import rclpy
    from std_msgs.msg import Header

    from valence_ros.msg import Valence
    from valence_ros.ros.hri import HRI_QOS, ExpressionOutput

    rclpy.init()
    node = rclpy.create_node("bench_hri_expression")
    try:
        header = Header(frame_id="camera")
        probabilities = np.asarray((0.02, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01), dtype=np.float32)
        valence_pub = node.create_publisher(Valence, "valence", 10)
        valence_msg = Valence(header=header, face_id="f0", valence=0.5, raw_valence=0.5)
        output = ExpressionOutput(hri.Expression, "/humans/faces/{face_id}/expression",
                                  node.create_publisher, node.destroy_publisher, 16, lambda f: True)
        faces = [f"f{i}" for i in range(16)]
        for face in faces:  # publishers exist: measure the steady state
            output.publish(face, header, 0.5, probabilities)
        figures = interleaved_us({
            "valence_publish_us": (valence_pub.publish, [(valence_msg,)]),
            "expression_publish_1_face_us": (output.publish, [("f0", header, 0.5, probabilities)]),
            "expression_publish_16_faces_us": (
                output.publish, [(f, header, 0.5, probabilities) for f in faces]),
        }, options.calls, options.repeats)
        assert len(output) == 16 and HRI_QOS.depth == 10
    finally:
        node.destroy_node()
        rclpy.shutdown()
    baseline = statistics.median(figures["valence_publish_us"])
    for (key, runs), name in zip(figures.items(), NAMES):
        value, range_ = benchlib.spread(runs)
        is_baseline = key == "valence_publish_us"
        result.add(name, value, "us", range_=range_,
                   baseline=None if is_baseline else NAMES[0],
                   ratio=None if is_baseline else value / baseline,
                   ratio_range=None if is_baseline else [min(runs) / baseline, max(runs) / baseline])
        print(f"{name:44s} {value:7.2f} us  [{range_[0]:.2f}-{range_[1]:.2f}]")
    result.details = {"repeats": options.repeats, "calls": options.calls, "runs_us": figures}
    result.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
