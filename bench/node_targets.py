#!/usr/bin/env python3
"""Node programs bench_node_latency.py measures next to the installed valence_node.

    python node_targets.py echo     [reliable] --ros-args -r __ns:=/x
    python node_targets.py echo_raw [reliable] --ros-args ...
    python node_targets.py seed     [reliable] --ros-args ...

echo      the honest floor: subscribes EmotionProbabilities (rclpy's typed message),
          publishes a Valence with the input's header and face_id copied: the least any
          node with valence_node's contract does.
echo_raw  the same contract on serialised messages: raw subscription, the Valence
          built as bytes (header and face_id bytes copied). What an rclpy node costs
          with no message objects at all.
seed      valence_node's wiring (the same class, parameters, tracker, publishers) with
          the seed's per-message inference: model(torch.tensor([probs])) in eager mode
          on the shipped .pt weights.

All run the executor as valence_node does (valence_ros.ros.executor: EventsExecutor
driven by spin_once, or VALENCE_NODE_EXECUTOR=single), input QoS best effort depth 10
(reliable with the `reliable` argument), output reliable depth 10, topics
emotion_probabilities -> valence.
"""
from __future__ import annotations

import struct
import sys

from rclpy.qos import QoSProfile, ReliabilityPolicy

_u32 = struct.Struct("<I").unpack_from


def input_qos(reliable: bool) -> QoSProfile:
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT)


def make_echo(reliable: bool):
    from rclpy.node import Node
    from valence_ros.msg import EmotionProbabilities, Valence

    class Echo(Node):
        def __init__(self):
            super().__init__("echo")
            self._out = Valence()
            self._pub = self.create_publisher(Valence, "valence", 10)
            self.create_subscription(EmotionProbabilities, "emotion_probabilities", self._on,
                                     input_qos(reliable))

        def _on(self, msg):
            out = self._out
            out.header = msg.header
            out.face_id = msg.face_id
            self._pub.publish(out)
    return Echo()


def make_echo_raw(reliable: bool):
    from rclpy.node import Node
    from valence_ros.msg import EmotionProbabilities, Valence

    class EchoRaw(Node):
        def __init__(self):
            super().__init__("echo_raw")
            self._pub = self.create_publisher(Valence, "valence", 10)
            self.create_subscription(EmotionProbabilities, "emotion_probabilities", self._on,
                                     input_qos(reliable), raw=True)

        def _on(self, data: bytes):
            # header (stamp, frame_id) and face_id have the same CDR layout in both types
            face_at = (16 + _u32(data, 12)[0] + 3) & -4
            face_end = face_at + 4 + _u32(data, face_at)[0]
            self._pub.publish(data[:face_end] + bytes(8 + (-face_end & 3)))
    return EchoRaw()


def make_seed(reliable: bool):
    import torch
    from valence_ros.model.mlp import DEFAULT_WEIGHTS_PATH, load_regressor
    from valence_ros.ros.node import ValenceNode
    from rclpy.parameter import Parameter

    torch.set_num_threads(1)
    model = load_regressor(DEFAULT_WEIGHTS_PATH)   # the shipped .pt, as the model card loads it
    overrides = [Parameter("input_qos_reliability", value="reliable")] if reliable else []
    node = ValenceNode(parameter_overrides=overrides)

    def seed_predict(vector) -> float:
        return float(model(torch.tensor([vector.tolist()])))   # the card's usage, eager
    node._predict = seed_predict
    return node


def main() -> int:
    from valence_ros.ros.executor import run_node
    kind = sys.argv[1]
    reliable = len(sys.argv) > 2 and sys.argv[2] == "reliable"
    make = {"echo": make_echo, "echo_raw": make_echo_raw, "seed": make_seed}[kind]
    return run_node(lambda: make(reliable), kind)


if __name__ == "__main__":
    sys.exit(main())
