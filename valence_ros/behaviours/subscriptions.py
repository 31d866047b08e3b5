"""ROS side of the behaviours: QoS matching valence_node's publishers, the clock.

Imported from setup() only, so `import valence_ros.behaviours` needs no rclpy.
"""
from __future__ import annotations

import time

# valence_node publishes valence_state reliable + transient local with depth
# 2 * max_faces (at most 2048): a subscriber's history must hold all of it, or
# a late joiner would lose faces from the burst of latched states.
STATE_DEPTH = 2048
VALENCE_DEPTH = 10


def state_qos():
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=STATE_DEPTH,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def valence_qos():
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=VALENCE_DEPTH,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class NodeClock:
    """Seconds on the node's ROS clock, the clock header stamps are on.

    Without sim time that is the system clock, read as a float (no allocation:
    CPython reuses float objects); with use_sim_time, rclpy's Clock.now() (which
    allocates a Time). Whether sim time is on is kept current by a clock-change
    callback instead of being asked on every tick (that query costs ~3 us)."""

    __slots__ = ("_clock", "_sim", "_handle")

    def __init__(self, node):
        from rclpy.clock import JumpThreshold
        self._clock = node.get_clock()
        self._sim = self._clock.ros_time_is_active
        self._handle = self._clock.create_jump_callback(
            JumpThreshold(min_forward=None, min_backward=None, on_clock_change=True),
            post_callback=self._on_change)

    def _on_change(self, _jump) -> None:
        self._sim = self._clock.ros_time_is_active

    def __call__(self) -> float:
        if self._sim:
            return self._clock.now().nanoseconds * 1e-9
        return time.time()


def node_from(behaviour, kwargs) -> object:
    """The rclpy node from setup(**kwargs), py_trees_ros's convention."""
    node = kwargs.get("node")
    if node is None:
        raise KeyError(
            f"{type(behaviour).__name__} '{behaviour.name}': setup() needs the ROS node, "
            f"as py_trees_ros passes it: tree.setup(node=<rclpy.node.Node>)")
    return node
