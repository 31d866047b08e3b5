"""ROS type names of the messages the CDR codec handles (rosbags / rosidl spelling)."""

EMOTION_PROBABILITIES = "valence_ros/msg/EmotionProbabilities"
FLOAT32_MULTI_ARRAY = "std_msgs/msg/Float32MultiArray"
VALENCE = "valence_ros/msg/Valence"
VALENCE_STATE = "valence_ros/msg/ValenceState"
