"""Canary for valence_ros/ros/rclpy_private.py, the one module that touches private
rclpy members: each test fails, naming the member, when the installed rclpy no longer
has what the seam relies on (checked on rclpy 7.1.6 Jazzy and 9.1.2 Kilted).
In-process rclpy nodes in a private context; no node process needed."""
from __future__ import annotations

import importlib

import pytest

from valence_ros.ros import rclpy_private


@pytest.fixture
def context():
    import rclpy
    ctx = rclpy.Context()
    rclpy.init(context=ctx, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    yield ctx
    ctx.try_shutdown()


def _class(dotted: str):
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("owner, member", rclpy_private.PRIVATE_MEMBERS)
def test_every_private_member_is_still_set_by_rclpy(context, owner, member):
    import rclpy
    from rclpy.lifecycle import LifecycleNode
    from rclpy.parameter import Parameter
    node_class = LifecycleNode if owner.startswith("rclpy.lifecycle") else rclpy.node.Node
    node = node_class("canary", context=context,
                      parameter_overrides=[Parameter("use_sim_time", value=True)])
    try:
        holder = node
        if owner == "rclpy.time_source.TimeSource":
            holder = rclpy_private.time_source(node)
        assert isinstance(holder, _class(owner))
        assert getattr(holder, member, None) is not None, (
            f"rclpy {owner}.{member} is gone: update valence_ros/ros/rclpy_private.py")
    finally:
        node.destroy_node()


def test_lifecycle_state_machine_can_be_destroyed(context):
    from rclpy.lifecycle import LifecycleNode
    node = LifecycleNode("canary_lifecycle", context=context)
    node.destroy_node()
    assert rclpy_private.destroy_lifecycle_state_machine(node), \
        "rclpy LifecycleNode._state_machine.destroy_when_not_in_use() is gone"


def test_time_source_members_the_clock_guard_wraps(context):
    import rclpy
    from rclpy.parameter import Parameter
    node = rclpy.node.Node("canary_clock", context=context,
                           parameter_overrides=[Parameter("use_sim_time", value=True)])
    try:
        source = rclpy_private.time_source(node)
        assert callable(getattr(source, "clock_callback", None)), "TimeSource.clock_callback is gone"
        assert rclpy_private.clock_subscription(source) is not None, "TimeSource._clock_sub is gone"
        assert "use_sim_time" in rclpy_private.parameter_overrides(node)
    finally:
        node.destroy_node()
