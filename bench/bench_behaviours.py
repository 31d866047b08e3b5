"""Per-tick cost of valence_ros.behaviours, and what their callbacks cost per message.

Measures, in one process with a real rclpy node (no valence_node needed: the
behaviours' subscription callbacks are fed ValenceState / Valence messages built
here, as rclpy would deliver them):

- update() of each condition (the part a tree pays every tick), 1 and 16 faces;
- tick_once() of the same (update() plus py_trees' own tick machinery);
- one tick of valence_bt_demo's whole tree (4 branches, 3 conditions), 16 faces;
- baseline in the same run: tick_once() of py_trees.behaviours.Success (py_trees'
  cheapest behaviour), so the numbers can be read as "x times the bare minimum";
- the callbacks: per ValenceState and per Valence message (O(faces) for any/all);
- bytes allocated while ticking (tracemalloc peak over 10,000 update() calls).

Each figure: REPEATS runs of CALLS calls; median [min-max] of the runs' per-call
means; ratios divide by the baseline's run of the same index. Written with benchlib
to bench_results/behaviours.json (make bench's table picks it up).

    python bench/bench_behaviours.py [--repeats 5] [--calls 20000] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from itertools import cycle, repeat
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402

os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))  # no traffic: a private domain
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def per_call_us(fn, calls: int, repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        it = repeat(None, calls)
        t0 = time.perf_counter()
        for _ in it:
            fn()
        runs.append((time.perf_counter() - t0) / calls * 1e6)
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI (numbers meaningless)")
    parser.add_argument("--out", default=None, help="JSON file (default: benchlib's bench_results/behaviours.json)")
    args = parser.parse_args(argv)
    if args.smoke or os.environ.get("VALENCE_BENCH_SMOKE"):
        args.repeats, args.calls = 1, 400
    result = benchlib.Result("behaviours")

    import py_trees
    import py_trees.version
    import rclpy

    from valence_ros.behaviours import ValenceAbove, ValenceStateIs
    from valence_ros.demo.bt_demo import create_tree
    from valence_ros.msg import Valence, ValenceState

    rclpy.init()
    node = rclpy.create_node("bench_behaviours")
    now_ns = time.time_ns()

    def state_msg(face_id: str, state: int, age_s: float):
        msg = ValenceState(face_id=face_id, state=state, valence=-0.5)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns - int(age_s * 1e9), 10**9)
        return msg

    def valence_msg(face_id: str, value: float):
        msg = Valence(face_id=face_id, valence=value, raw_valence=value)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 10**9)
        return msg

    def feed_states(behaviour, faces: int):
        for k in range(faces):   # every 4th face NEGATIVE for 5 s, the rest NEUTRAL
            behaviour._on_state(state_msg(f"face{k}", ValenceState.NEGATIVE if k % 4 == 0
                                          else ValenceState.NEUTRAL, 5.0))

    def feed_valence(behaviour, faces: int):
        for k in range(faces):
            behaviour._on_valence(valence_msg(f"face{k}", 0.5))

    results = {}

    def record(name: str, runs: list[float], what: str):
        results[name] = {"what": what, "us_per_call_median": statistics.median(runs),
                         "us_per_call_min": min(runs), "us_per_call_max": max(runs), "runs": runs}

    baseline = py_trees.behaviours.Success("baseline")
    record("baseline_success_tick_once", per_call_us(baseline.tick_once, args.calls, args.repeats),
           "py_trees.behaviours.Success().tick_once()")

    for faces in (1, 16):
        upset = ValenceStateIs("upset", ValenceState.NEGATIVE, face="any", min_duration=1.0)
        everyone = ValenceStateIs("all neutral", ValenceState.NEUTRAL, face="all")
        glad = ValenceAbove("glad", 0.3, face="all", max_age=1.0)
        for b in (upset, everyone, glad):
            b.setup(node=node)
        feed_states(upset, faces)
        feed_states(everyone, faces)
        feed_valence(glad, faces)
        for label, b in (("state_any_min_duration", upset), ("state_all", everyone),
                         ("valence_above_all", glad)):
            record(f"{label}_update_{faces}faces", per_call_us(b.update, args.calls, args.repeats),
                   f"{type(b).__name__}(face={b.board.face!r}).update(), {faces} faces")
            record(f"{label}_tick_once_{faces}faces", per_call_us(b.tick_once, args.calls, args.repeats),
                   f"{type(b).__name__}(face={b.board.face!r}).tick_once(), {faces} faces")
        msgs = [state_msg(f"face{k % faces}", ValenceState.NEGATIVE, 1.0) for k in range(64)]
        i = cycle(msgs)
        record(f"state_callback_{faces}faces",
               per_call_us(lambda b=upset, i=i: b._on_state(next(i)), args.calls // 2, args.repeats),
               f"ValenceStateIs callback per ValenceState message, {faces} faces tracked")
        vmsgs = [valence_msg(f"face{k % faces}", 0.5) for k in range(64)]
        j = cycle(vmsgs)
        record(f"valence_callback_{faces}faces",
               per_call_us(lambda b=glad, j=j: b._on_valence(next(j)), args.calls // 2, args.repeats),
               f"ValenceAbove(face='all') callback per Valence message, {faces} faces")
        if faces == 16:
            it = repeat(None, 10000)
            u1, u2, u3 = upset.update, everyone.update, glad.update
            tracemalloc.start()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            for _ in it:
                u1(), u2(), u3()
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            results["allocated_bytes_10000x3_updates"] = {
                "what": "tracemalloc: peak - start while calling the 3 conditions' update() 10,000 times",
                "peak_minus_start": peak - base, "end_minus_start": current - base}
        for b in (upset, everyone, glad):
            b.shutdown()

    root = create_tree(1.0)
    tree = py_trees.trees.BehaviourTree(root)
    tree.setup(node=node)
    for b in root.iterate():
        if isinstance(b, ValenceStateIs):
            feed_states(b, 16)
    record("demo_tree_tick_16faces", per_call_us(tree.tick, args.calls // 4, args.repeats),
           "valence_bt_demo's tree: BehaviourTree.tick(), 16 faces (comfort branch succeeds)")
    tree.shutdown()
    node.destroy_node()
    rclpy.shutdown()

    conditions = {"python": platform.python_version(), "py_trees": py_trees.version.__version__,
                  "repeats": args.repeats, "calls": args.calls, "smoke": bool(args.smoke)}
    print(f"bench_behaviours: py_trees {conditions['py_trees']}, Python {conditions['python']}, "
          f"{args.repeats} runs x {args.calls} calls, load {os.getloadavg()[0]:.2f}")
    print(f"{'measure':<42} {'us/call median':>14} {'[min - max]':>18}")
    for name, r in results.items():
        if "us_per_call_median" in r:
            print(f"{name:<42} {r['us_per_call_median']:>14.3f} "
                  f"[{r['us_per_call_min']:.3f} - {r['us_per_call_max']:.3f}]")
    alloc = results["allocated_bytes_10000x3_updates"]
    print(f"{'allocated while ticking (10,000 x 3 updates)':<42} peak {alloc['peak_minus_start']} B, "
          f"net {alloc['end_minus_start']} B")

    base = results["baseline_success_tick_once"]
    for key, label in (("state_any_min_duration_update_16faces", "ValenceStateIs(any, min_duration) update(), 16 faces"),
                       ("state_all_update_16faces", "ValenceStateIs(all) update(), 16 faces"),
                       ("valence_above_all_update_16faces", "ValenceAbove(all, max_age) update(), 16 faces"),
                       ("state_any_min_duration_tick_once_16faces", "ValenceStateIs(any) tick_once(), 16 faces"),
                       ("demo_tree_tick_16faces", "valence_bt_demo tree tick, 16 faces")):
        r = results[key]
        ratios = [a / b for a, b in zip(r["runs"], base["runs"])]
        result.add(label, r["us_per_call_median"], "us", range_=[r["us_per_call_min"], r["us_per_call_max"]],
                   baseline="py_trees Success().tick_once(), same run",
                   ratio=statistics.median(ratios), ratio_range=[min(ratios), max(ratios)])
    for key, label in (("state_callback_16faces", "ValenceStateIs callback per ValenceState, 16 faces"),
                       ("valence_callback_16faces", "ValenceAbove(all) callback per Valence, 16 faces")):
        r = results[key]
        result.add(label, r["us_per_call_median"], "us", range_=[r["us_per_call_min"], r["us_per_call_max"]])
    result.add("bytes allocated ticking 3 conditions 10,000 times (peak)", alloc["peak_minus_start"], "B",
               target="<= 0", target_on="value")
    result.details = {"conditions": conditions, "results": results}
    path = result.write(args.out)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
