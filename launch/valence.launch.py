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

fer:=image|video|ros4hri also starts valence_fer_node (camera images, a video file
or camera, or ROS4HRI face crops -> EmotionProbabilities on the valence node's
input topic) with its /**/valence_fer_node section of the same params file and
input_mode = <fer>; fer:=none (default) starts no FER node. video_source:=<file or
camera index> sets its video_source (e.g. fer:=video video_source:=0 for a webcam):

    ros2 launch valence_ros valence.launch.py fer:=image       (sensor_msgs/Image on image)
    ros2 launch valence_ros valence.launch.py fer:=video video_source:=0
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
from launch_ros.parameter_descriptions import ParameterValue
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


def _fer_node(context):
    """valence_fer_node with input_mode = the fer argument, or nothing for fer:=none."""
    mode = LaunchConfiguration('fer').perform(context)
    if mode == 'none':
        return []
    overrides = {'input_mode': mode}
    video_source = LaunchConfiguration('video_source').perform(context).strip()
    if video_source:
        # a string even when it looks like a number (camera index 0)
        overrides['video_source'] = ParameterValue(video_source, value_type=str)
    return [Node(
        package='valence_ros',
        executable='valence_fer_node',
        name='valence_fer_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), overrides],
        # its output is the valence node's input, wherever input_topic puts it
        remappings=[('emotion_probabilities', LaunchConfiguration('input_topic'))],
        output='screen',
        emulate_tty=True,
    )]


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
        DeclareLaunchArgument(
            'fer', default_value='none', choices=['none', 'image', 'video', 'ros4hri'],
            description='Also start valence_fer_node with this input_mode (image: '
                        'sensor_msgs/Image on image; video: video_source; ros4hri: '
                        '/humans/faces/tracked crops); none: no FER node.'),
        DeclareLaunchArgument(
            'video_source', default_value='',
            description='With fer:=video: a video file or a camera index (0 = the first '
                        'webcam); empty: as the params file says.'),
        OpaqueFunction(function=_valence_node),
        OpaqueFunction(function=_fer_node),
    ])
