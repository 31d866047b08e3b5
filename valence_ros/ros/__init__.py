"""The ROS 2 layer: wiring only, the logic lives in valence_ros.core.

    node             ValenceNode and the valence_node entry point
    node_parameters  declaring the parameter table as ROS parameters, runtime changes
    diagnostics      the /diagnostics status of one period
    state_publisher  valence_state: latched latest state per face, UNKNOWN for gone faces
    executor         executor choice, the spin loop and signal handling
"""
