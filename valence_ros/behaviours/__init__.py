"""py_trees behaviours on valence_node's topics (no py_trees_ros needed).

    from valence_ros.behaviours import ValenceStateIs, ValenceAbove, ValenceBelow, ValenceToBlackboard

Each is a py_trees.behaviour.Behaviour following py_trees_ros's convention:
the tree's setup(node=<rclpy node>) subscribes; ticks only read.
"""
from valence_ros.behaviours.conditions import ValenceAbove, ValenceBelow, ValenceStateIs
from valence_ros.behaviours.to_blackboard import ValenceToBlackboard

__all__ = ["ValenceStateIs", "ValenceAbove", "ValenceBelow", "ValenceToBlackboard"]
