"""ros2 launch ros_bridge tubelet.launch.py artifact:=/path/to/artifact image_topic:=/camera/image_raw

Starts the tubelet node with config/params.yaml (or params_file:=...); `artifact` and
`image_topic`, when given, override the file's values.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def _node(context):
    overrides = {}
    artifact = LaunchConfiguration("artifact").perform(context)
    image_topic = LaunchConfiguration("image_topic").perform(context)
    if artifact:
        overrides["artifact"] = artifact
    if image_topic:
        overrides["image_topics"] = [image_topic]
    parameters = [LaunchConfiguration("params_file").perform(context)] + ([overrides] if overrides else [])
    return [Node(package="ros_bridge", executable="tubelet_node", name="tubelet",
                 namespace=LaunchConfiguration("namespace"), output="screen", emulate_tty=True, parameters=parameters)]


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("ros_bridge"), "config", "params.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters YAML"),
        DeclareLaunchArgument("artifact", default_value="", description="artifact folder (overrides the file)"),
        DeclareLaunchArgument("image_topic", default_value="", description="one camera topic (overrides the file)"),
        DeclareLaunchArgument("namespace", default_value="", description="ROS namespace of the node"),
        OpaqueFunction(function=_node),
    ])
