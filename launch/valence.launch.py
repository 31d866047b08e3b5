"""Start the valence node with the installed parameter file.

    ros2 launch valence_ros valence.launch.py
    ros2 launch valence_ros valence.launch.py namespace:=robot1
    ros2 launch valence_ros valence.launch.py params_file:=/path/to/my.yaml
    ros2 launch valence_ros valence.launch.py input_topic:=/fer/emotions

The node runs exactly as

    <prefix>/lib/valence_ros/valence_node --ros-args \
        -r __node:=valence_node [-r __ns:=/<namespace>] \
        --params-file <prefix>/share/valence_ros/config/valence.yaml \
        -r emotion_probabilities:=<input_topic>
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


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
        Node(
            package='valence_ros',
            executable='valence_node',
            name='valence_node',
            namespace=LaunchConfiguration('namespace'),
            parameters=[LaunchConfiguration('params_file')],
            remappings=[('emotion_probabilities',
                         LaunchConfiguration('input_topic'))],
            output='screen',
            emulate_tty=True,
        ),
    ])
