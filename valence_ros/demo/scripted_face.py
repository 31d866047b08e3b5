"""Scripted demo session: realistic, noisy FER output for a made-up face.

Publishes ``valence_ros/msg/EmotionProbabilities`` on ``emotion_probabilities``
(reliable, depth 10, stamp = now) at 15 Hz by default, playing a fixed script
of expressions -- neutral, happy, neutral, sad, surprised, angry, ... -- and
looping until Ctrl-C (or ``--duration`` seconds, or ``--once``: one pass).

Each frame is drawn, from one seeded generator, around a per-scene mean: a
neutral-dominant "resting face" distribution mixed with the scene's emotion
(plus the emotion FER models most confuse it with), with a smooth onset, a
slow wobble of the intensity and Dirichlet frame noise -- so it looks like a
frame-level FER model's softmax output, not a clean one-hot.

    valence_demo_publisher [--rate 15] [--seed 0] [--once | --duration S]

``valence_demo`` (valence_ros/demo.py) runs this together with the node.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from valence_ros.core.emotions import EMOTIONS
from valence_ros.model.synthetic_data import CONFUSION_PARTNER
from valence_ros.process import stop_requests

#: (emotion, seconds) -- one pass of the demo script.
DEFAULT_SCRIPT: tuple[tuple[str, float], ...] = (
    ("neutral", 3.0),
    ("happy", 4.0),
    ("neutral", 2.5),
    ("sad", 4.0),
    ("surprised", 2.5),
    ("angry", 3.0),
    ("neutral", 2.0),
    ("scared", 2.5),
    ("disgusted", 2.5),
    ("happy", 3.0),
)

# How strongly each expression shows (share of the frame's mass, before noise).
INTENSITY = {"neutral": 0.0, "happy": 0.85, "sad": 0.7, "angry": 0.7,
             "surprised": 0.8, "scared": 0.6, "disgusted": 0.65}
# A still, resting face: mostly neutral, a little mass leaking elsewhere.
RESTING_FACE = np.array([0.78, 0.05, 0.07, 0.02, 0.03, 0.02, 0.03])
assert len(RESTING_FACE) == len(EMOTIONS) and abs(RESTING_FACE.sum() - 1) < 1e-9

TOPIC = "emotion_probabilities"


def scene_mean(emotion: str, intensity: float) -> np.ndarray:
    """Mean FER distribution of a face showing ``emotion`` at ``intensity``."""
    if emotion not in INTENSITY:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    target = np.zeros(len(EMOTIONS))
    target[EMOTIONS.index(emotion)] = 0.85
    # Leak into the class FER models confuse it with (the training data's table);
    # neutral has no partner, and shows with intensity 0 anyway.
    target[EMOTIONS.index(CONFUSION_PARTNER.get(emotion, emotion))] += 0.15
    return (1.0 - intensity) * RESTING_FACE + intensity * target


@dataclass(frozen=True)
class Scene:
    emotion: str
    start: float
    duration: float


class ScriptedSession:
    """Deterministic (seeded) frame generator for a looping expression script."""

    def __init__(self, script: Sequence[tuple[str, float]] = DEFAULT_SCRIPT,
                 seed: int = 0, transition_s: float = 0.5,
                 concentration: float = 60.0):
        if not script:
            raise ValueError("empty script")
        self.scenes: list[Scene] = []
        t = 0.0
        for emotion, seconds in script:
            if seconds <= 0:
                raise ValueError(f"scene {emotion!r} has non-positive duration")
            scene_mean(emotion, 0.0)  # validates the name
            self.scenes.append(Scene(emotion, t, float(seconds)))
            t += seconds
        self.duration = t
        self.transition_s = transition_s
        self.concentration = concentration
        self._rng = np.random.default_rng(seed)
        self._phase = self._rng.uniform(0, 2 * math.pi, size=len(self.scenes))

    def scene_index(self, t: float) -> int:
        """Index of the scene playing at session time ``t`` (loops)."""
        t = t % self.duration
        for i, scene in enumerate(self.scenes):
            if t < scene.start + scene.duration:
                return i
        return len(self.scenes) - 1

    def scene_at(self, t: float) -> str:
        return self.scenes[self.scene_index(t)].emotion

    def _mean(self, i: int, t_in_scene: float) -> np.ndarray:
        scene = self.scenes[i]
        wobble = 0.85 + 0.15 * math.sin(2 * math.pi * t_in_scene / 1.7 + self._phase[i])
        return scene_mean(scene.emotion, INTENSITY[scene.emotion] * wobble)

    def mean_at(self, t: float) -> np.ndarray:
        """Noise-free distribution at session time ``t`` (with cross-fades)."""
        first_pass = t < self.duration
        t = t % self.duration
        i = self.scene_index(t)
        scene = self.scenes[i]
        t_in = t - scene.start
        current = self._mean(i, t_in)
        if t_in >= self.transition_s or (first_pass and i == 0):
            return current  # (the very first scene starts without a cross-fade)
        prev_i = (i - 1) % len(self.scenes)
        previous = self._mean(prev_i, self.scenes[prev_i].duration)
        w = t_in / self.transition_s
        return (1.0 - w) * previous + w * current

    def probabilities(self, t: float) -> np.ndarray:
        """One noisy FER frame (float32, sums to 1) at session time ``t``."""
        alpha = self.concentration * self.mean_at(t) + 0.05
        p = self._rng.dirichlet(alpha)
        return np.round(p, 4).astype(np.float32)


class DemoPublisher:
    """Publishes a ScriptedSession on an rclpy node from a timer."""

    def __init__(self, node, session: ScriptedSession, *, topic: str = TOPIC,
                 rate_hz: float = 15.0, face_id: str = "", with_labels: bool = False,
                 announce=None):
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        from valence_ros.msg import EmotionProbabilities

        if rate_hz <= 0:
            raise ValueError("rate must be positive")
        self._msg_type = EmotionProbabilities
        self.node = node
        self.session = session
        self.face_id = face_id
        self.labels = list(EMOTIONS) if with_labels else []
        self.announce = announce
        self.publisher = node.create_publisher(
            EmotionProbabilities, topic,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                       reliability=ReliabilityPolicy.RELIABLE))
        self.period = 1.0 / rate_hz
        self.start_ns: int | None = None
        self.frames = 0
        self._last_scene: int | None = None
        self._timer = None

    def start(self) -> None:
        """Start publishing (session time 0 = now)."""
        self.start_ns = self.node.get_clock().now().nanoseconds
        self._timer = self.node.create_timer(self.period, self._tick)
        self._tick()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self.node.destroy_timer(self._timer)
            self._timer = None

    def session_time(self, stamp_ns: int | None = None) -> float:
        """Seconds since start() for a stamp (default: now)."""
        if self.start_ns is None:
            return 0.0
        if stamp_ns is None:
            stamp_ns = self.node.get_clock().now().nanoseconds
        return (stamp_ns - self.start_ns) / 1e9

    def _tick(self) -> None:
        now = self.node.get_clock().now()
        t = self.session_time(now.nanoseconds)
        i = self.session.scene_index(t)
        if i != self._last_scene:
            self._last_scene = i
            if self.announce is not None:
                self.announce(t, self.session.scenes[i].emotion)
        msg = self._msg_type()
        msg.header.stamp = now.to_msg()
        msg.header.frame_id = "demo_camera"
        msg.face_id = self.face_id
        msg.labels = self.labels
        msg.probabilities = self.session.probabilities(t).tolist()
        self.publisher.publish(msg)
        self.frames += 1


def script_summary(session: ScriptedSession) -> str:
    return " -> ".join(f"{s.emotion} {s.duration:g}s" for s in session.scenes)


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=15.0,
                        help="frames per second (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--face-id", default="", help="face_id to send (default '')")
    parser.add_argument("--with-labels", action="store_true",
                        help="send explicit labels (default: empty = canonical order)")
    end = parser.add_mutually_exclusive_group()
    end.add_argument("--duration", type=float, default=None,
                     help="stop after this many seconds (default: loop until Ctrl-C)")
    end.add_argument("--once", action="store_true",
                     help="stop after one pass of the script")


def run_seconds(args, session: ScriptedSession) -> float | None:
    if args.once:
        return session.duration
    return args.duration


def close_ros(publisher: "DemoPublisher", executor, node, context) -> None:
    """Stop publishing and release the rclpy objects (also after Ctrl-C)."""
    import rclpy
    publisher.stop()
    executor.shutdown()
    node.destroy_node()
    if context.ok():
        rclpy.shutdown(context=context)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="valence_demo_publisher",
        description="Publish a scripted, noisy FER session as EmotionProbabilities.")
    add_session_arguments(parser)
    parser.add_argument("--topic", default=TOPIC, help=f"topic (default {TOPIC})")
    args, ros_args = parser.parse_known_args(argv)

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = stop_requests.install()  # SIGINT/SIGTERM: a flag the loop checks, no traceback
    context = rclpy.Context()
    rclpy.init(args=["valence_demo_publisher", *ros_args], context=context,
               signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("valence_demo_publisher", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    session = ScriptedSession(seed=args.seed)
    publisher = DemoPublisher(
        node, session, topic=args.topic, rate_hz=args.rate, face_id=args.face_id,
        with_labels=args.with_labels,
        announce=lambda t, e: print(f"[demo_publisher] t={t:6.2f}s scene: {e}", flush=True))
    limit = run_seconds(args, session)
    print(f"[demo_publisher] {args.rate:g} Hz on {publisher.publisher.topic_name}: "
          f"{script_summary(session)}" + (" (looping; Ctrl-C stops)" if limit is None else ""),
          flush=True)
    publisher.start()
    try:
        while not stop and context.ok():
            executor.spin_once(timeout_sec=0.05)
            if limit is not None and publisher.session_time() >= limit:
                break
    finally:
        close_ros(publisher, executor, node, context)
    print(f"[demo_publisher] stopped after {publisher.frames} frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
