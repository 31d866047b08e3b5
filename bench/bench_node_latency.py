#!/usr/bin/env python3
"""valence_node against an honest bare echo node and the seed's usage, in one run.

Targets (separate processes, same executor setup as valence_node, same QoS):
  echo              EmotionProbabilities in -> Valence with the copied header and face_id
                    out (rclpy's typed messages): the floor, and the baseline of the ratios
  echo_raw          the same on serialised messages (raw subscription, Valence as bytes)
  valence_node      the installed node, input_decoding: rclpy
  valence_node_cdr  the installed node, input_decoding: cdr (raw input, pre-serialised output)
  seed              valence_node's wiring with model(torch.tensor([probs])) per message
See node_targets.py and latency_driver.py.

Phases:
  1. start -> first valence (shipped weights) of both node variants and of echo (the
     baseline), interleaved, and RSS; twice, each in a driver process of its own:
     the driver announcing its participant every 0.3 s (bench/peer_announce_fast.xml:
     the node's own start), and with Fast DDS's default 3 s (a start waits for the
     driver's next announcement, up to 3 s, whatever the node);
  2. latency: publisher -> node -> subscriber at each rate (30 Hz, 500 Hz), --reps
     repetitions, targets interleaved (the order rotates each repetition), one node
     busy at a time; p50/p99 latency and CPU per frame (all threads' run time);
  3. idle CPU (ms/s) of every target with no input (timers only), --idle-reps windows;
  4. highest loss-free rate of echo and both node variants (--ladder-targets): bursts
     at rising rates (--ladder), best-effort input, then with those targets restarted
     with reliable input; a target leaves the ladder
     when two bursts at a rate both lost frames.
Ratios are taken within one repetition (target / echo of that repetition), then the
median and min..max over repetitions are reported. No pass/fail on timing: prints the
table, writes bench_results/node_latency.json (see benchlib.py), exits 0 unless a node
failed to start or answered nothing.

    python bench/bench_node_latency.py            # ~6 min
    python bench/bench_node_latency.py --smoke    # seconds: every phase runs, numbers meaningless
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
from latency_driver import Driver, Target, cpu_ns, node_env, rss_kb  # noqa: E402

ALL_TARGETS = ("echo", "echo_raw", "valence_node", "valence_node_cdr", "seed")
LADDER = [250, 500, 750, 1000, 1100, 1200, 1350, 1500, 1650, 1800, 2000, 2200, 2400, 2650, 3000, 3300, 3600, 4000]
ANNOUNCE = {"fast": "peer announcing every 0.3 s", "default": "Fast DDS default announcements (3 s)"}


def find_node_executable() -> Path:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) + [
            str(benchlib.REPO / "install" / "valence_ros")]:
        exe = Path(prefix) / "lib" / "valence_ros" / "valence_node"
        if prefix and exe.is_file():
            return exe
    sys.exit("bench_node_latency: valence_node is not installed; run `make setup` and "
             "`source install/<distro>/setup.bash`")


def command(label: str, reliable: bool) -> list[str]:
    if label in ("echo", "echo_raw", "seed"):
        return [sys.executable, str(HERE / "node_targets.py"), label] + (["reliable"] if reliable else [])
    decoding = "cdr" if label == "valence_node_cdr" else "rclpy"
    args = [str(find_node_executable()), "--ros-args", "-p", f"input_decoding:={decoding}"]
    if reliable:
        args += ["-p", "input_qos_reliability:=reliable"]
    return args


def start(driver: Driver, labels, reliable: bool, env: dict, tag: str) -> list[Target]:
    targets = []
    for label in labels:
        # (several --ros-args sections are allowed: Target adds the namespace in its own)
        target = Target(label, command(label, reliable), env, f"/bench_{tag}_{label}")
        driver.connect(target)
        targets.append(target)
    for target in targets:
        driver.wait_matched(target)
    return targets


def stop(driver: Driver, targets: list[Target]) -> None:
    for target in targets:
        target.stop()
        driver.disconnect(target)


def startup(driver: Driver, env: dict, reps: int,
            labels=("echo", "valence_node", "valence_node_cdr")) -> list[dict]:
    """Process start -> first Valence received (frames at 100 Hz from before the start),
    labels interleaved, echo as the baseline."""
    runs = []
    for rep in range(reps):
        for label in labels:
            t0 = time.time_ns()
            target = Target(label, command(label, False), env, f"/bench_start{rep}_{label}")
            driver.connect(target)
            log = driver.received[target.out_topic]
            first = matched = None
            while first is None and time.time_ns() - t0 < 30e9:
                if not target.alive():
                    sys.exit(f"bench_node_latency: {label} exited:\n{target.output()[-2000:]}")
                driver.send(target, 100.0, 1)
                if matched is None and driver.matched(target):
                    matched = time.time_ns()
                if log:
                    first = log[0][0]
            time.sleep(0.5)
            memory = rss_kb(target.proc.pid)
            stop(driver, [target])
            ready = _logged_ns(target.output(), "ready:")
            runs.append({"target": label, "rep": rep,
                         "first_valence_s": None if first is None else (first - t0) / 1e9,
                         # the stamp of the node's "ready" log line (after its first spin); echo logs none
                         "ready_s": None if ready is None else (ready - t0) / 1e9,
                         # both driver endpoints matched the node's: DDS discovery done
                         "matched_s": None if matched is None else (matched - t0) / 1e9,
                         "rss_mb": memory.get("VmRSS", 0) / 1024, "peak_rss_mb": memory.get("VmHWM", 0) / 1024})
    return runs


_LOG_STAMP = re.compile(r"^\[\w+\] \[(\d+)\.(\d{9})\]")


def _logged_ns(output: str, marker: str) -> int | None:
    """Wall time (ns) in the rclpy log line that contains `marker`, or None."""
    for line in output.splitlines():
        found = _LOG_STAMP.match(line)
        if found and marker in line:
            return int(found.group(1)) * 1_000_000_000 + int(found.group(2))
    return None


def startup_in_child(announce: str, reps: int) -> list[dict]:
    """The start-up phase in a driver process of its own: a Fast DDS profile is read
    once per process, and the fast-announcing one must not touch the latency phases."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "startup.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--startup-only", announce,
               "--startup-reps", str(reps), "--out", str(out)]
        done = subprocess.run(cmd, env=dict(os.environ), timeout=600)
        if done.returncode != 0:
            sys.exit(f"bench_node_latency: the start-up phase ({announce}) failed ({done.returncode})")
        runs = json.loads(out.read_text())
    return [{**run, "peer_announce": announce} for run in runs]


def idle(targets: list[Target], reps: int, seconds: float, settle: float) -> list[dict]:
    """CPU of every target with no input: its timers and executor wake-ups only, in ms
    of CPU per second. All targets are idle at once, so one window measures them all;
    `settle` first lets the nodes forget the bench's face (face_timeout 2 s)."""
    time.sleep(settle)
    runs = []
    for rep in range(reps):
        before = {t.label: cpu_ns(t.proc.pid) for t in targets}
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        runs += [{"target": t.label, "rep": rep,
                  "cpu_ms_per_s": (cpu_ns(t.proc.pid) - before[t.label]) / 1e6 / elapsed} for t in targets]
    return runs


def ladder(driver: Driver, targets: list[Target], rates, seconds: float, qos: str) -> tuple[list, list]:
    """Highest rate of `rates` at which each target answered a whole burst, no frame lost.
    Rates rise step by step, targets interleaved at each step; a burst that lost frames
    is tried once more (a shared machine stalls now and then), and a target leaves the
    ladder when both tries at a rate lost frames or the driver could not reach it."""
    best = {t.label: None for t in targets}
    steps = []
    alive = list(targets)
    for rate in rates:
        for target in list(alive):
            for attempt in (1, 2):
                r = driver.phase(target, rate, max(100, int(rate * seconds)), warmup=0)
                r.update(qos=qos, attempt=attempt)
                steps.append(r)
                time.sleep(0.2)
                if not r["lost"] and r["achieved_hz"] >= 0.9 * rate:
                    best[target.label] = rate
                    break
            else:
                alive.remove(target)
    return [{"target": label, "qos": qos, "max_loss_free_hz": rate} for label, rate in best.items()], steps


def summarise(result: benchlib.Result, latency: list[dict], startups: list[dict], best: list[dict],
              idles: list[dict], labels, rates) -> None:
    def per_rep(metric, label, base, rate):
        out = []
        for rep in sorted({r["rep"] for r in latency}):
            pair = {r["target"]: r for r in latency if r["rep"] == rep and r["rate_hz"] == rate}
            if label in pair and base in pair and pair[label].get(metric) and pair[base].get(metric):
                out.append(pair[label][metric] / pair[base][metric])
        return out

    def value(metric, label, rate):
        return benchlib.spread([r.get(metric) for r in latency if r["target"] == label and r["rate_hz"] == rate])

    ours = [x for x in ("valence_node", "valence_node_cdr") if x in labels]
    targets = {"latency_ms_p50": "<= 1.10", "latency_ms_p99": "<= 1.25", "cpu_us_per_frame": "<= 1.20"}
    names = {"latency_ms_p50": "p50 latency", "latency_ms_p99": "p99 latency", "cpu_us_per_frame": "CPU per frame"}
    units = {"latency_ms_p50": "ms", "latency_ms_p99": "ms", "cpu_us_per_frame": "us"}
    for rate in rates:
        for metric in targets:
            for label, base, target in ([(o, "echo", targets[metric]) for o in ours] +
                                        [("echo_raw", "echo", None)] +
                                        [(o, "seed", None) for o in ours]):
                if label not in labels or base not in labels:
                    continue
                ratio, ratio_range = benchlib.spread(per_rep(metric, label, base, rate))
                v, v_range = value(metric, label, rate)
                result.add(f"{label} {names[metric]} @ {rate:g} Hz" + (" vs seed" if base == "seed" else ""),
                           v, units[metric], range_=v_range,
                           baseline=f"{base} (same rep)", ratio=ratio, ratio_range=ratio_range, target=target)
    echo_idle = {r["rep"]: r["cpu_ms_per_s"] for r in idles if r["target"] == "echo"}
    for label in [x for x in ours + ["echo_raw", "echo"] if any(r["target"] == x for r in idles)]:
        mine = {r["rep"]: r["cpu_ms_per_s"] for r in idles if r["target"] == label}
        ratios = [mine[rep] / echo_idle[rep] for rep in mine if echo_idle.get(rep)] if label != "echo" else []
        ratio, ratio_range = benchlib.spread(ratios) if ratios else (None, None)
        v, v_range = benchlib.spread(list(mine.values()))
        result.add(f"{label} idle CPU (no input: timers only)", v, "ms/s", range_=v_range,
                   baseline="echo (same window)" if label != "echo" else None, ratio=ratio, ratio_range=ratio_range,
                   note=f"{len(mine)} windows; all targets idle at once")
    for entry in best:
        if entry["target"] not in ours + ["echo_raw"]:
            continue
        echo = next((b for b in best if b["target"] == "echo" and b["qos"] == entry["qos"]), None)
        ratio = (entry["max_loss_free_hz"] / echo["max_loss_free_hz"]
                 if echo and echo["max_loss_free_hz"] and entry["max_loss_free_hz"] else None)
        result.add(f"{entry['target']} highest loss-free rate ({entry['qos']})", entry["max_loss_free_hz"], "Hz",
                   baseline=f"echo ({echo['max_loss_free_hz'] if echo else None} Hz)", ratio=ratio,
                   target=">= 0.9" if entry["target"] in ours else None,
                   note="one ladder pass (a lossy burst is retried once); rates are the ladder's steps")
    for announce in ("fast", "default"):
        runs = [s for s in startups if s.get("peer_announce") == announce]
        for label in [x for x in ("valence_node", "valence_node_cdr", "echo") if any(s["target"] == x for s in runs)]:
            mine = [s for s in runs if s["target"] == label]
            ratios = [r["first_valence_s"] / e["first_valence_s"] for r in mine for e in runs
                      if e["target"] == "echo" and e["rep"] == r["rep"] and r["first_valence_s"] and e["first_valence_s"]]
            ratio, ratio_range = benchlib.spread(ratios) if label != "echo" else (None, None)
            v, v_range = benchlib.spread([s["first_valence_s"] for s in mine])
            result.add(f"{label} start -> first valence, {ANNOUNCE[announce]}", v, "s", range_=v_range,
                       baseline="echo (same rep)" if label != "echo" else None, ratio=ratio, ratio_range=ratio_range,
                       target="<= 0.5" if announce == "fast" and label != "echo" else None, target_on="value",
                       note=f"{len(mine)} starts; DDS discovery with the driver included")
            if label != "echo":
                v, v_range = benchlib.spread([s.get("ready_s") for s in mine])
                result.add(f"{label} start -> 'ready' logged, {ANNOUNCE[announce]}", v, "s", range_=v_range)
                v, v_range = benchlib.spread([s["rss_mb"] for s in mine])
                result.add(f"{label} RSS after start, {ANNOUNCE[announce]}", v, "MB", range_=v_range)


def startup_only(announce: str, env: dict, reps: int, out: Path) -> int:
    """The child of startup_in_child: its own driver, with the fast profile if asked."""
    if announce == "fast":  # read by Fast DDS when the driver's participant is created
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(HERE / "peer_announce_fast.xml")
    driver = Driver()
    try:
        runs = startup(driver, env, reps)  # env: the nodes' own, without the driver's profile
    finally:
        driver.close()
    Path(out).write_text(json.dumps(runs))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[30.0, 500.0])
    # Many short interleaved repetitions, not a few long ones: on this VM a target's
    # figures drift by up to x2 between 10-s windows, and a ratio of neighbours in time
    # cancels that drift only if the windows are short.
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 750], help="frames per rate and rep")
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--targets", nargs="+", default=list(ALL_TARGETS), choices=ALL_TARGETS)
    # steps of about x1.1 from 1 kHz on: one step is then about the 0.9 of the target
    parser.add_argument("--ladder", type=float, nargs="*", default=LADDER)
    parser.add_argument("--ladder-seconds", type=float, default=0.5)
    parser.add_argument("--ladder-targets", nargs="+", default=["echo", "valence_node", "valence_node_cdr"],
                        choices=ALL_TARGETS)
    parser.add_argument("--idle-reps", type=int, default=5, help="idle CPU windows (0: none)")
    parser.add_argument("--idle-seconds", type=float, default=4.0)
    parser.add_argument("--idle-settle", type=float, default=3.0, help="seconds before the first idle window")
    parser.add_argument("--startup-reps", type=int, default=5, help="starts per target, peer announcing fast")
    parser.add_argument("--startup-default-reps", type=int, default=3,
                        help="starts per target, Fast DDS default announcements")
    parser.add_argument("--startup-only", choices=sorted(ANNOUNCE), help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="seconds-long run of every phase")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.reps, args.ladder, args.ladder_seconds, args.startup_reps = [20, 50], 1, [500], 0.2, 1
        args.startup_default_reps, args.idle_reps, args.idle_seconds, args.idle_settle = 1, 1, 0.3, 0.0
    if len(args.frames) != len(args.rates):
        parser.error("--frames needs one count per rate")
    env = node_env()
    env.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 101))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    if args.startup_only:
        return startup_only(args.startup_only, env, args.startup_reps, args.out)

    result = benchlib.Result("node_latency")
    print(f"[bench] start -> first valence, {ANNOUNCE['fast']}: {args.startup_reps} x "
          f"(echo, valence_node, valence_node_cdr)", flush=True)
    startups = startup_in_child("fast", args.startup_reps)
    print(f"[bench] start -> first valence, {ANNOUNCE['default']}: {args.startup_default_reps} x", flush=True)
    startups += startup_in_child("default", args.startup_default_reps)
    driver = Driver()
    latency, steps, best, idles = [], [], [], []
    try:
        targets = start(driver, args.targets, False, env, "be")
        for rep in range(args.reps):
            order = targets[rep % len(targets):] + targets[:rep % len(targets)]
            for rate, n in zip(args.rates, args.frames):
                for target in order:
                    print(f"[bench] rep {rep + 1}/{args.reps} {target.label:17s} {rate:5.0f} Hz x {n}", flush=True)
                    r = driver.phase(target, rate, n, warmup=min(50, n // 4))
                    r["rep"] = rep
                    latency.append(r)
        if args.idle_reps:
            print(f"[bench] idle CPU: {args.idle_reps} x {args.idle_seconds:g} s, every target at once", flush=True)
            idles = idle(targets, args.idle_reps, args.idle_seconds, settle=args.idle_settle)
        if args.ladder:
            print("[bench] loss-free ladder, best-effort input", flush=True)
            found, s = ladder(driver, [t for t in targets if t.label in args.ladder_targets],
                              args.ladder, args.ladder_seconds, "best_effort")
            best += found
            steps += s
        stop(driver, targets)
        if args.ladder:
            print("[bench] loss-free ladder, reliable input", flush=True)
            targets = start(driver, [t for t in args.targets if t in args.ladder_targets], True, env, "rel")
            found, s = ladder(driver, targets, args.ladder, args.ladder_seconds, "reliable")
            best += found
            steps += s
            stop(driver, targets)
    finally:
        driver.close()
    result.details = {"latency": latency, "idle": idles, "ladder_steps": steps, "loss_free": best, "startup": startups,
                      "executor": os.environ.get("VALENCE_NODE_EXECUTOR", "events"),
                      "args": {k: v for k, v in vars(args).items() if k != "out"}}
    summarise(result, latency, startups, best, idles, args.targets, args.rates)
    print(f"\n{'target':17s} {'rate':>5s} {'p50 ms':>7s} {'p99 ms':>7s} {'cpu us/fr':>9s} {'lost':>4s}  (per rep)")
    for r in latency:
        print(f"{r['target']:17s} {r['rate_hz']:5.0f} {r.get('latency_ms_p50', float('nan')):7.3f} "
              f"{r.get('latency_ms_p99', float('nan')):7.3f} {r['cpu_us_per_frame']:9.1f} {r['lost']:4d}")
    for b in best:
        print(f"loss-free {b['qos']:11s} {b['target']:17s} {b['max_loss_free_hz']} Hz")
    path = result.write(args.out)
    print(f"[bench] wrote {path}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0 if all(r["received"] for r in latency) else 1


if __name__ == "__main__":
    sys.exit(main())
