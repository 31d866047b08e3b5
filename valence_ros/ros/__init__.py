"""The ROS 2 layer: wiring only, the logic lives in valence_ros.core.

    node             ValencePipeline (the shared wiring), ValenceNode and valence_node
    lifecycle_node   ValenceLifecycleNode and valence_lifecycle_node (managed)
    hri              ROS4HRI: per-face hri_msgs/Expression output, tracked-faces input
    node_parameters  declaring the parameter table as ROS parameters, runtime changes
    diagnostics      the /diagnostics status of one period
    serialized_input the raw (input_decoding = cdr) input path, given the node's FrameSteps
    label_warnings   one warning per label list with unknown labels or missing emotions
    face_expiry      the face-expiry timer, armed only while faces are tracked
    state_publisher  valence_state: latched latest state per face, UNKNOWN for gone faces
    executor         executor choice, the spin loop and signal handling
    tracked_list     which faces left a ROS4HRI tracked-faces list (pure, no rclpy)
    latest_slot      valence_fer_node's one-image hand-over to its worker (pure, no rclpy)
    rclpy_private    every private rclpy member we rely on, in one place (canary-tested)
"""
