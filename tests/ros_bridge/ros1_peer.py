"""A ROS 1 camera and listener in one process (Debian's Python and rospy; no numpy needed).

    python3 tests/ros_bridge/ros1_peer.py --count 30 --fps 30

Publishes rgb8 images on /cam/image_raw stamped 1000 s + i/30 s with frame_id peer_cam, collects
/tubelet/classification JSON strings, prints one JSON line with what it sent and received.
"""

import argparse
import json
import sys
import time

import rospy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from std_msgs.msg import String


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--fps", type=float, default=30.0)
    args = p.parse_args()
    rospy.init_node("ros1_peer", disable_signals=True)
    received = []
    rospy.Subscriber("/tubelet/classification", String, lambda m: received.append(json.loads(m.data)), queue_size=100)
    diagnostics = {}

    def on_diagnostics(array):
        for status in array.status:
            diagnostics.update({kv.key: kv.value for kv in status.values})

    rospy.Subscriber("/diagnostics", DiagnosticArray, on_diagnostics, queue_size=10)
    pub = rospy.Publisher("/cam/image_raw", Image, queue_size=5)
    deadline = time.monotonic() + 20
    while pub.get_num_connections() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    height, width = 48, 64
    for i in range(args.count):
        row = bytes([200, 40, 10]) * ((i * 7) % width) + bytes(3 * (width - (i * 7) % width))
        msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3, data=row * height)
        msg.header.stamp = rospy.Time(1000 + i // 30, (i % 30) * 33_333_333)
        msg.header.frame_id = "peer_cam"
        pub.publish(msg)
        time.sleep(1.0 / args.fps)
    bad = Image(height=10, width=10, encoding="rgb8", step=30, data=b"\x00" * 7)  # wrong size: dropped and counted
    pub.publish(bad)
    time.sleep(2.0)
    print(json.dumps({"connected": pub.get_num_connections(), "sent": args.count, "received": received,
                      "diagnostics": diagnostics}), flush=True)
    rospy.signal_shutdown("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
