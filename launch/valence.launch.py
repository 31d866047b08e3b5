"""Start the valence node with the installed parameter file.

    ros2 launch valence_ros valence.launch.py
    ros2 launch valence_ros valence.launch.py namespace:=robot1
    ros2 launch valence_ros valence.launch.py params_file:=/path/to/my.yaml
    ros2 launch valence_ros valence.launch.py input_topic:=/fer/emotions
    ros2 launch valence_ros valence.launch.py managed:=true hri_expression:=true
    ros2 launch valence_ros valence.launch.py managed:=true autostart:=false

managed:=false (default) runs the plain node, exactly as

    <prefix>/lib/valence_ros/valence_node --ros-args \
        -r __node:=valence_node [-r __ns:=/<namespace>] \
        --params-file <prefix>/share/valence_ros/config/valence.yaml \
        -r emotion_probabilities:=<input_topic>

managed:=true runs valence_lifecycle_node (same name, parameters and topics) as a
launch_ros LifecycleNode; with autostart:=true (default) launch configures it and,
once it is inactive after configuring, activates it, as ROS4HRI launch files do.
autostart:=false leaves it unconfigured for a lifecycle manager.

hri_expression:=true|false and hri_tracked_faces_topic:=<topic> override the
params file's values; left empty (default) the params file decides.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition


def _parameter_overrides(context):
    """The ROS4HRI launch arguments that were given, as parameters."""
    overrides = {}
    expression = LaunchConfiguration('hri_expression').perform(context).strip().lower()
    if expression:
        if expression not in ('true', 'false'):
            raise RuntimeError(f"launch argument hri_expression = {expression!r}; "
                               "allowed: true, false or empty (the params file decides)")
        overrides['hri_expression'] = expression == 'true'
    tracked = LaunchConfiguration('hri_tracked_faces_topic').perform(context).strip()
    if tracked:
        overrides['hri_tracked_faces_topic'] = tracked
    return [overrides] if overrides else []


def _valence_node(context):
    managed = LaunchConfiguration('managed').perform(context).lower() == 'true'
    autostart = LaunchConfiguration('autostart').perform(context).lower() == 'true'
    common = dict(
        package='valence_ros',
        name='valence_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), *_parameter_overrides(context)],
        remappings=[('emotion_probabilities', LaunchConfiguration('input_topic'))],
        output='screen',
        emulate_tty=True,
    )
    if not managed:
        return [Node(executable='valence_node', **common)]

    node = LifecycleNode(executable='valence_lifecycle_node', **common)
    if not autostart:
        return [node]
    activate_when_configured = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state='configuring', goal_state='inactive',
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_ACTIVATE))]))
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(node),
        transition_id=Transition.TRANSITION_CONFIGURE))
    return [activate_when_configured, node, configure]


def generate_launch_description():
    default_params_file = os.path.join(
        get_package_share_directory('valence_ros'), 'config', 'valence.yaml')

    return LaunchDescription([
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the node and of its relative topics '
                        '(emotion_probabilities, valence, valence_state, ...).'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params_file,
            description='Parameter file for the node (default: the installed '
                        'config/valence.yaml).'),
        DeclareLaunchArgument(
            'input_topic', default_value='emotion_probabilities',
            description='Topic the EmotionProbabilities messages arrive on '
                        '(remaps the node\'s "emotion_probabilities").'),
        DeclareLaunchArgument(
            'managed', default_value='false', choices=['true', 'false'],
            description='true: the lifecycle node valence_lifecycle_node (managed); '
                        'false: the plain valence_node.'),
        DeclareLaunchArgument(
            'autostart', default_value='true', choices=['true', 'false'],
            description='With managed:=true, configure and activate the node at launch.'),
        DeclareLaunchArgument(
            'hri_expression', default_value='',
            description='ROS4HRI Expression output per face (true/false); empty: as the '
                        'params file says.'),
        DeclareLaunchArgument(
            'hri_tracked_faces_topic', default_value='',
            description='ROS4HRI tracked faces (hri_msgs/IdsList), e.g. /humans/faces/tracked; '
                        'empty: as the params file says.'),
        OpaqueFunction(function=_valence_node),
    ])
