"""Every private rclpy member valence_ros relies on, used from this module only.

rclpy offers no public API for these needs. Keeping each access here (issue 22's
seam rule) means an rclpy upgrade that renames one breaks one function, named by
test/ros/test_rclpy_private.py (the canary: it checks every member in PRIVATE_MEMBERS
on the installed rclpy). Checked on rclpy 7.1.6 (Jazzy) and 9.1.2 (Kilted). Where a
member is missing, each function degrades as its docstring says and never raises.
"""
from __future__ import annotations

# (class, private member) pairs the functions below read; the canary checks each.
PRIVATE_MEMBERS = (
    ("rclpy.lifecycle.LifecycleNode", "_state_machine"),  # .destroy_when_not_in_use()
    ("rclpy.node.Node", "_time_source"),                   # .clock_callback (public name)
    ("rclpy.time_source.TimeSource", "_clock_sub"),        # set while use_sim_time is true
    ("rclpy.node.Node", "_parameter_overrides"),           # dict name -> Parameter
)


def destroy_lifecycle_state_machine(node) -> bool:
    """Destroy a LifecycleNode's rcl state machine (call after node.destroy_node()).

    rclpy's LifecycleNode.destroy_node() leaves it alive, and it holds the node's
    handle: the node stayed in the ROS graph until garbage collection (~20 s after
    valence_lifecycle_node exited). False (nothing done) when rclpy has no such member."""
    machine = getattr(node, "_state_machine", None)
    destroy = getattr(machine, "destroy_when_not_in_use", None)
    if destroy is None:
        return False
    destroy()
    return True


def time_source(node):
    """The node's rclpy TimeSource (None when rclpy keeps it elsewhere)."""
    return getattr(node, "_time_source", None)


def clock_subscription(source):
    """The TimeSource's /clock subscription: None while use_sim_time is false, or when
    rclpy keeps it elsewhere."""
    return getattr(source, "_clock_sub", None)


def parameter_overrides(node) -> dict:
    """The node's parameter overrides (params files, -p), {} when unavailable."""
    return getattr(node, "_parameter_overrides", None) or {}
