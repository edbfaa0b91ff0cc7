"""Tubelet's ROS bridge: camera topics in, action classifications, events and diagnostics out.

The core (`convert`, `messages`, `results`, `stamps`, `node`) is pure Python on the runtime: no ROS
import anywhere. Transports put it on a wire:

- `ros_bridge.transports.rclpy_node`: the ROS 2 node a robot launches (`ros2 launch ros_bridge tubelet.launch.py`);
- `ros_bridge.transports.dds`: Cyclone DDS speaking the ROS 2 wire format, for robots without rclpy;
- `ros_bridge.transports.rospy_node`: ROS 1 (rospy).

Each transport imports its middleware when it is opened, never at import time.
"""
