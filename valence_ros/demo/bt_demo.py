"""valence_bt_demo: the behaviour tree a social robot would run on valence_node.

    reactions  (Selector, no memory: each tick, the first branch that succeeds wins)
    ├── comfort  someone NEGATIVE for >= 1 s   ValenceStateIs(NEGATIVE, face="any", min_duration=1.0)
    ├── smile    the latest face is POSITIVE   ValenceStateIs(POSITIVE, face="latest")
    ├── idle     nobody is tracked             ValenceStateIs(UNKNOWN, face="all")
    └── attend   otherwise: someone is there, neither upset nor happy

Each branch ends in py_trees' SetBlackboardVariable("reaction", ...). After every
tick the node publishes the reaction as std_msgs/String on ``robot_reaction``
when it changed (reliable, transient local, depth 1: a late monitor gets the
current one) and logs it. The tree ticks at --rate Hz from a timer of the
node, py_trees_ros style (setup(node=...) subscribes; ticks only read).

    valence_bt_demo [--rate 10] [--comfort-after 1.0] [--ros-args -r __ns:=/robot1 ...]
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import py_trees

from valence_ros.behaviours import ValenceStateIs
from valence_ros.core.valence_state import NEGATIVE, POSITIVE, UNKNOWN

NODE_NAME = "valence_bt_demo"
REACTION_TOPIC = "robot_reaction"
REACTION_KEY = "reaction"
# reaction -> why (logged with it)
REACTIONS = {
    "comfort": "someone has been NEGATIVE for a while",
    "smile": "the latest face is POSITIVE",
    "idle": "nobody is tracked",
    "attend": "someone is there, neither upset nor happy",
}


def _react(reaction: str) -> py_trees.behaviour.Behaviour:
    return py_trees.behaviours.SetBlackboardVariable(
        name=f"say {reaction}", variable_name=REACTION_KEY, variable_value=reaction,
        overwrite=True)


def _branch(reaction: str, condition: py_trees.behaviour.Behaviour) -> py_trees.composites.Sequence:
    return py_trees.composites.Sequence(name=reaction, memory=False,
                                        children=[condition, _react(reaction)])


def create_tree(comfort_after: float = 1.0) -> py_trees.behaviour.Behaviour:
    """The demo tree (see the module docstring)."""
    return py_trees.composites.Selector(name="reactions", memory=False, children=[
        _branch("comfort", ValenceStateIs("someone upset", state=NEGATIVE, face="any",
                                          min_duration=comfort_after)),
        _branch("smile", ValenceStateIs("latest face happy", state=POSITIVE, face="latest")),
        _branch("idle", ValenceStateIs("nobody there", state=UNKNOWN, face="all")),
        _react("attend"),
    ])


class ReactionPublisher:
    """Publishes the blackboard's reaction after each tick when it changed."""

    def __init__(self, node):
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String
        self._msg_type = String
        self._node = node
        self._publisher = node.create_publisher(
            String, REACTION_TOPIC,
            QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self._blackboard = py_trees.blackboard.Client(name="reaction publisher")
        self._blackboard.register_key(REACTION_KEY, access=py_trees.common.Access.READ)
        self.current: str | None = None
        self.published = 0

    def __call__(self, _tree: py_trees.trees.BehaviourTree) -> None:
        reaction = self._blackboard.get(REACTION_KEY) if self._blackboard.exists(REACTION_KEY) else None
        if reaction is None or reaction == self.current:
            return
        self.current = reaction
        self._publisher.publish(self._msg_type(data=reaction))
        self.published += 1
        self._node.get_logger().info(f"reaction: {reaction} ({REACTIONS.get(reaction, '')})")


def main(argv: Sequence[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions
    from rclpy.utilities import remove_ros_args

    from valence_ros.process import stop_requests

    argv = list(sys.argv if argv is None else [NODE_NAME, *argv])
    parser = argparse.ArgumentParser(
        prog=NODE_NAME, description="Behaviour tree reacting to valence_node's valence_state; "
                                    "publishes std_msgs/String on robot_reaction.")
    parser.add_argument("--rate", type=float, default=10.0, help="ticks per second (default 10)")
    parser.add_argument("--comfort-after", type=float, default=1.0,
                        help="seconds someone must be NEGATIVE before comfort (default 1.0)")
    args = parser.parse_args(remove_ros_args(argv)[1:])
    if not 0.1 <= args.rate <= 1000.0:
        parser.error(f"--rate {args.rate} is invalid; allowed: [0.1, 1000]")

    stop = stop_requests.install()
    context = rclpy.Context()
    rclpy.init(args=argv, context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(NODE_NAME, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        tree = py_trees.trees.BehaviourTree(root=create_tree(args.comfort_after))
    except ValueError as error:
        parser.error(str(error))
    reactions = ReactionPublisher(node)
    tree.add_post_tick_handler(reactions)
    tree.setup(node=node)
    node.create_timer(1.0 / args.rate, tree.tick)
    node.get_logger().info(
        f"ready: ticking at {args.rate:g} Hz on {node.resolve_topic_name('valence_state')}, "
        f"reactions on {node.resolve_topic_name(REACTION_TOPIC)}")
    try:
        while not stop and context.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        tree.shutdown()
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
