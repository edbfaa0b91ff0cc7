"""Transports: the same bridge core on rclpy (ROS 2), Cyclone DDS (ROS 2 wire, no ROS) or rospy (ROS 1)."""
